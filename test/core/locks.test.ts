import { lstatSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { FileLock, ownerOf, withLock } from "../../src/core/locks.ts";
import { tempDir } from "../helpers/temp.ts";
import { lockAndExit, lockAndHold } from "../helpers/store-lock-child.ts";

/** Whether the lock file (a symlink to nowhere) is there; existsSync would follow it. */
const present = (path: string) => lstatSync(path, { throwIfNoEntry: false }) !== undefined;

describe("FileLock", () => {
  it("a second tryAcquire of a held lock fails, in this process and in another one", async () => {
    const dir = tempDir();
    const path = join(dir, "locks", "job.agent-queue"); // parent directories are made on demand
    const first = await FileLock.tryAcquire(path, "first");
    expect(first).toBeDefined();
    expect((await ownerOf(path))?.ref.pid).toBe(process.pid);
    expect(await FileLock.tryAcquire(path, "second")).toBeUndefined();
    const other = await lockAndExit(dir, path);
    expect(other.said).toBe("busy");
    // The failed attempts did not disturb the holder.
    expect((await ownerOf(path))?.note).toBe("first");
    await first!.release();
  });

  it("release() frees the lock for the next taker", async () => {
    const dir = tempDir();
    const path = join(dir, "claim");
    const lock = await FileLock.tryAcquire(path);
    await lock!.release();
    expect(present(path)).toBe(false);
    expect(await ownerOf(path)).toBeUndefined();
    const again = await FileLock.tryAcquire(path, "again");
    expect(again).toBeDefined();
    expect((await ownerOf(path))?.note).toBe("again");
    await again!.release();
  });

  it("withLock lets only one holder in at a time", async () => {
    const dir = tempDir();
    const path = join(dir, "mutex");
    let inside = 0;
    let most = 0;
    let done = 0;
    await Promise.all(
      Array.from({ length: 12 }, () =>
        withLock(path, async () => {
          inside++;
          most = Math.max(most, inside);
          await sleep(2);
          inside--;
          done++;
        }),
      ),
    );
    expect(done).toBe(12);
    expect(most).toBe(1);
    expect(present(path)).toBe(false);
  });

  it("a lock left by a process that died without releasing it is stolen", async () => {
    const dir = tempDir();
    const path = join(dir, "locks", "job.repo");
    const dead = await lockAndExit(dir, path);
    expect(dead.said).toBe("locked");
    expect((await ownerOf(path))?.ref.pid).toBe(dead.pid);
    const mine = await FileLock.tryAcquire(path, "stealer");
    expect(mine).toBeDefined();
    expect((await ownerOf(path))?.ref.pid).toBe(process.pid);
    expect(present(`${path}.steal`)).toBe(false);
    await mine!.release();
  });

  it("a lock held by a live other process is not stolen", async () => {
    const dir = tempDir();
    const path = join(dir, "locks", "job.repo");
    const holder = await lockAndHold(dir, path);
    try {
      expect(holder.said).toBe("locked");
      for (let i = 0; i < 3; i++) expect(await FileLock.tryAcquire(path, "hopeful")).toBeUndefined();
      expect((await ownerOf(path))?.ref.pid).toBe(holder.child.pid);
    } finally {
      await holder.stop();
    }
    // Once that process is gone its lock is free to take.
    const mine = await FileLock.tryAcquire(path);
    expect(mine).toBeDefined();
    await mine!.release();
  });

  it("release() by a holder whose lock was stolen does not remove the new owner's lock", async () => {
    const dir = tempDir();
    const path = join(dir, "locks", "job.repo");
    const old = await FileLock.tryAcquire(path, "old");
    expect(old).toBeDefined();
    // A stealer judged it stale and removed it; another process took it.
    unlinkSync(path);
    const holder = await lockAndHold(dir, path);
    try {
      expect(holder.said).toBe("locked");
      await old!.release();
      expect(present(path)).toBe(true);
      expect((await ownerOf(path))?.ref.pid).toBe(holder.child.pid);
      expect(await FileLock.tryAcquire(path)).toBeUndefined();
    } finally {
      await holder.stop();
    }
  });
});
