import { readdirSync } from "node:fs";
import { join } from "node:path";
import { parseJob } from "../../src/core/job-file.ts";
import { QueueStore, type NewJob, type JobRecord } from "../../src/core/queue-store.ts";
import { jobText } from "./jobs.ts";

/** The stages docs/design.md ("The queue on disk") names, spelled out here so that a drift in src/core/stages.ts is caught. */
export const DESIGN_STAGES = [
  "queued",
  "assigned",
  "building",
  "review",
  "testing",
  "shipped",
  "blocked",
  "failed",
  "dead_letter",
  "quarantine",
] as const;

/** A queue store on `dir` that never commits (temp dirs are not git work trees anyway). */
export function openStore(dir: string): Promise<QueueStore> {
  return QueueStore.open(dir, { gitQueue: false });
}

/** A NewJob from exact text (parsed like `aq add` does). */
export function newJobFromText(id: string, text: string): NewJob {
  return { id, text, spec: parseJob(text, `${id}.md`), origin: { kind: "local" } };
}

export function newJob(
  id: string,
  frontmatter: Record<string, unknown> = { engine: "shell" },
  body = "echo hi",
): NewJob {
  return newJobFromText(id, jobText(frontmatter, body));
}

/** Adds a queued job the way `aq add` does. */
export function addJob(
  store: QueueStore,
  id: string,
  frontmatter: Record<string, unknown> = { engine: "shell" },
  body = "echo hi",
): Promise<JobRecord> {
  return store.create(newJob(id, frontmatter, body), { by: "test" });
}

/** Every file under `dir` (relative paths), for "nothing left behind" checks. */
export function allFiles(dir: string, prefix = ""): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(join(dir, prefix), { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) out.push(...allFiles(dir, rel));
    else out.push(rel);
  }
  return out.sort();
}

/** The error a promise rejects with (fails the test if it resolves). */
export async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error("expected the promise to reject");
}
