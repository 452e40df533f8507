import { existsSync, lstatSync } from "node:fs";
import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "./atomic-file.ts";

/**
 * A person cancels a running job by leaving this file in its directory (building/ID/); the runner
 * that holds the job sees it, kills the engine's process group and moves the job on. A request is
 * the only way in: the runner that owns the job is the one that moves it, so a cancel never races
 * the runner's own transitions.
 */
export const CANCEL_FILE = "cancel.json";

export interface CancelRequest {
  /** queued: the attempt does not count; failed: the job rests in failed/ for a person. */
  readonly to: "queued" | "failed";
  readonly by: string;
  readonly at: string;
}

export async function requestCancel(jobDir: string, request: CancelRequest): Promise<void> {
  await writeFileAtomic(join(jobDir, CANCEL_FILE), `${JSON.stringify(request)}\n`);
}

export async function clearCancelRequest(jobDir: string): Promise<void> {
  const path = join(jobDir, CANCEL_FILE);
  // Almost always absent: one lstat, rather than rm's round trip through the thread pool.
  if (lstatSync(path, { throwIfNoEntry: false })) await rm(path, { force: true });
}

/** Calls `onRequest` once when a cancel request appears in the job's directory; returns a stop function. */
export function watchCancelRequest(
  jobDir: string,
  onRequest: (request: CancelRequest) => void,
  everyMs = 250,
): () => void {
  const path = join(jobDir, CANCEL_FILE);
  let reading = false;
  const timer = setInterval(() => {
    if (reading || !existsSync(path)) return;
    reading = true;
    void readFile(path, "utf8")
      .then((text) => {
        const parsed = JSON.parse(text) as Partial<CancelRequest>;
        clearInterval(timer);
        onRequest({
          to: parsed.to === "failed" ? "failed" : "queued",
          by: String(parsed.by ?? "a person"),
          at: String(parsed.at ?? new Date().toISOString()),
        });
      })
      .catch(() => {}) // half written or just removed: the next tick reads it again
      .finally(() => (reading = false));
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
