import { lstatSync, mkdirSync, readlinkSync, symlinkSync, unlinkSync } from "node:fs";
import { dirname } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { AqError, isErrno } from "./errors.ts";
import type { ProcessRef } from "./meta.ts";
import { isAlive, selfRef } from "./process-ref.ts";

/**
 * A mutex across processes: a symlink whose target names its owner (pid, start time, host),
 * created atomically by symlink(2). A lock whose owner is gone is stolen, under a second
 * short-lived lock so that two stealers never remove a lock a live process just took.
 * Its calls are synchronous: each is one metadata syscall of a few microseconds, where a
 * thread-pool round trip would cost more than the call, several times per job.
 */
export class FileLock {
  readonly path: string;
  private readonly token: string;

  private constructor(path: string, token: string) {
    this.path = path;
    this.token = token;
  }

  static async tryAcquire(path: string, note = ""): Promise<FileLock | undefined> {
    const token = encodeOwner(selfRef(), note);
    for (let attempt = 0; attempt < 3; attempt++) {
      if (create(path, token)) return new FileLock(path, token);
      const owner = await ownerOf(path);
      if (owner === undefined) {
        await refuseForeign(path);
        continue; // released between our two calls
      }
      if (isAlive(owner.ref)) return undefined;
      await stealIfStale(path);
    }
    return undefined;
  }

  static async acquire(
    path: string,
    options: { note?: string; pollMs?: number; signal?: AbortSignal } = {},
  ): Promise<FileLock> {
    for (;;) {
      const lock = await FileLock.tryAcquire(path, options.note);
      if (lock) return lock;
      options.signal?.throwIfAborted();
      await sleep(options.pollMs ?? 5 + Math.random() * 10);
    }
  }

  async release(): Promise<void> {
    // Only remove what is still ours: a lock we lost to a stealer belongs to someone else now.
    if (readToken(this.path) === this.token) removeLink(this.path);
  }
}

export async function withLock<T>(path: string, fn: () => Promise<T>, note?: string): Promise<T> {
  const lock = await FileLock.acquire(path, note === undefined ? {} : { note });
  try {
    return await fn();
  } finally {
    await lock.release();
  }
}

/** Who holds a lock, if anyone: for status and for tests. */
export async function ownerOf(path: string): Promise<{ ref: ProcessRef; note: string } | undefined> {
  const token = readToken(path);
  return token === undefined ? undefined : decodeOwner(token);
}

/**
 * Something that is not a lock of aq's (a file or directory: no symlink) stands where one goes.
 * Nobody can be told to own it, so it is never removed, and waiting for it would wait for ever.
 */
async function refuseForeign(path: string): Promise<void> {
  const found = lstatSync(path, { throwIfNoEntry: false });
  if (!found || found.isSymbolicLink()) return;
  throw new AqError(
    "AQ_FAILED",
    `${path} is a ${found.isDirectory() ? "directory" : "file"}, not a lock aq made; aq leaves it alone: remove it if nothing uses it`,
  );
}

function create(path: string, token: string): boolean {
  try {
    symlinkSync(token, path);
    return true;
  } catch (error) {
    if (isErrno(error, "ENOENT")) {
      mkdirSync(dirname(path), { recursive: true });
      return create(path, token);
    }
    if (isErrno(error, "EEXIST")) return false;
    throw error;
  }
}

async function stealIfStale(path: string): Promise<void> {
  const guard = `${path}.steal`;
  const guardToken = encodeOwner(selfRef(), "steal");
  if (!create(guard, guardToken)) {
    const guardOwner = await ownerOf(guard);
    if (guardOwner && !isAlive(guardOwner.ref)) removeLink(guard);
    return;
  }
  try {
    const owner = await ownerOf(path);
    if (owner && !isAlive(owner.ref)) removeLink(path);
  } finally {
    if (readToken(guard) === guardToken) removeLink(guard);
  }
}

function readToken(path: string): string | undefined {
  try {
    return readlinkSync(path);
  } catch {
    return undefined;
  }
}

function removeLink(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // gone already, or not ours to remove
  }
}

function encodeOwner(ref: ProcessRef, note: string): string {
  return JSON.stringify({ ...ref, note, nonce: Math.random().toString(36).slice(2, 8) });
}

function decodeOwner(token: string): { ref: ProcessRef; note: string } | undefined {
  try {
    const { pid, startTime, host, note } = JSON.parse(token) as ProcessRef & { note?: string };
    return { ref: { pid, startTime, host }, note: note ?? "" };
  } catch {
    return { ref: { pid: -1 }, note: "unreadable" };
  }
}
