import { randomBytes } from "node:crypto";
import { constants } from "node:fs";
import { open, rename, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { crashPoint } from "./crash-point.ts";
import { isErrno } from "./errors.ts";

// Exclusive and no-follow: a file or link planted under a temp name is never written through.
const CREATE_NEW = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
// Unique within this process by the counter, across processes by the pid; the random part
// tells this process's temps from those of an earlier one that had the same pid.
const run = randomBytes(3).toString("hex");
let sequence = 0;

/**
 * Writes a file by write-to-temp, fsync and rename: a reader sees the old or the new file, never a
 * part. `durable: false` skips the fsync, for a file rewritten before each use (a crash loses
 * nothing the next attempt does not write again); the rename still replaces a planted link.
 */
export async function writeFileAtomic(path: string, data: string, options: { durable?: boolean } = {}): Promise<void> {
  const handle = await openTemp(path);
  try {
    await handle.file.writeFile(data);
    if (options.durable !== false) await handle.file.sync();
  } finally {
    await handle.file.close();
  }
  crashPoint("atomic:temp-written");
  try {
    await rename(handle.temp, path);
  } catch (error) {
    await unlink(handle.temp).catch(() => {});
    throw error;
  }
}

async function openTemp(path: string) {
  for (;;) {
    const temp = join(dirname(path), `.${basename(path)}.${process.pid}.${run}${(sequence++).toString(16)}.tmp`);
    try {
      return { temp, file: await open(temp, CREATE_NEW, 0o666) };
    } catch (error) {
      if (!isErrno(error, "EEXIST")) throw error;
    }
  }
}
