import { readdir, rm, unlink } from "node:fs/promises";
import { join } from "node:path";
import { isErrno } from "./errors.ts";
import { FileLock } from "./locks.ts";
import { pendingMeta, type QueueStore } from "./queue-store.ts";
import { STAGE_NAMES } from "./stages.ts";

/**
 * After a crash: every job's half-done transition settled, scratch directories of creations that
 * never finished removed, and the audit log brought up to what is on disk. (What was dropped into
 * queued/ is adoption's: adopt.ts.)
 */
export async function sweepQueue(store: QueueStore): Promise<void> {
  for (const stage of STAGE_NAMES) {
    for (const id of store.ids(stage)) {
      const dir = store.jobDir(stage, id);
      if (pendingMeta(dir, stage, { any: true }) !== undefined) await store.settle(stage, id);
      else await removeOrphanTemps(dir);
    }
  }
  for (const name of await readdir(store.stateDir("tmp")).catch(() => [] as string[])) {
    const id = name.slice(0, name.lastIndexOf("."));
    const lock = await FileLock.tryAcquire(store.jobLock(id), "sweep");
    if (!lock) continue; // being created right now
    try {
      await rm(store.stateDir("tmp", name), { recursive: true, force: true });
    } finally {
      await lock.release();
    }
  }
  await (await store.gitQueue())?.catchUp();
}

/** A temporary file of writeFileAtomic (`.<name>.<pid>.<hex>.tmp`) whose writer died before its rename. */
async function removeOrphanTemps(dir: string): Promise<void> {
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const writer = /^\..+\.(\d+)\.[0-9a-f]+\.tmp$/.exec(name)?.[1];
    if (writer && !isAlive(Number(writer))) await unlink(join(dir, name)).catch(() => {});
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return !isErrno(error, "ESRCH");
  }
}
