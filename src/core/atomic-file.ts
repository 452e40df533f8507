import { closeSync, constants, fsync, openSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { crashPoint } from "./crash-point.ts";
import { isErrno } from "./errors.ts";
import { randomHex } from "./random-hex.ts";

// Exclusive and no-follow: a file or link planted under a temp name is never written through.
const CREATE_NEW = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
// Unique within this process by the counter, across processes by the pid; the random part
// tells this process's temps from those of an earlier one that had the same pid.
let run: string | undefined;
let sequence = 0;
function fsyncAsync(fd: number): Promise<void> {
  return new Promise((done, fail) => fsync(fd, (error) => (error ? fail(error) : done())));
}

/**
 * Writes a file by write-to-temp, fsync and rename: a reader sees the old or the new file, never a
 * part. `durable: false` skips the fsync, for a file rewritten before each use (a crash loses
 * nothing the next attempt does not write again); the rename still replaces a planted link.
 * The open, write and rename of a few hundred bytes are synchronous (microseconds, less than a
 * thread-pool round trip); only the fsync, which waits for the disk, goes to the thread pool.
 */
export async function writeFileAtomic(path: string, data: string, options: { durable?: boolean } = {}): Promise<void> {
  const { temp, fd } = openTemp(path);
  try {
    writeAll(fd, data);
    if (options.durable !== false) await fsyncAsync(fd);
  } catch (error) {
    closeSync(fd);
    removeQuietly(temp);
    throw error;
  }
  closeSync(fd);
  crashPoint("atomic:temp-written");
  try {
    renameSync(temp, path);
  } catch (error) {
    removeQuietly(temp);
    throw error;
  }
}

function openTemp(path: string): { temp: string; fd: number } {
  for (;;) {
    const temp = join(
      dirname(path),
      `.${basename(path)}.${process.pid}.${(run ??= randomHex(3))}${(sequence++).toString(16)}.tmp`,
    );
    try {
      return { temp, fd: openSync(temp, CREATE_NEW, 0o666) };
    } catch (error) {
      if (!isErrno(error, "EEXIST")) throw error;
    }
  }
}

function writeAll(fd: number, data: string): void {
  const bytes = Buffer.from(data);
  for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at);
}

function removeQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
}
