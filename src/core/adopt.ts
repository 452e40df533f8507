import { randomBytes } from "node:crypto";
import { lstatSync } from "node:fs";
import { mkdir, readdir, readFile, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { AqError, oneLine } from "./errors.ts";
import { idFromStem, JOB_ID } from "./job-id.ts";
import { type JobSpec, parseJob } from "./job-file.ts";
import { type JobMeta, NO_FOLLOW, readMeta } from "./meta.ts";
import { linkedFiles, linkProblem } from "./queue-file.ts";
import { JOB_FILE, META_FILE, type NewJob, type QueueStore } from "./queue-store.ts";

export interface Adoption {
  adopted: string[];
  rejected: Array<{ id: string; problem: string }>;
}

/**
 * What a person or a crash left in queued/: `.md` files dropped there (the stem becomes the id),
 * job directories without a readable meta.json, directories whose name is not a job id, and job
 * directories whose files are symbolic links. Each becomes a queued job, or a failed one with a
 * one-line reason; a link dropped into queued/ itself is moved to `.aq/broken/`. Nothing is
 * deleted but the adopted file. Called outside any queue-wide lock: it parses job files.
 */
export async function adoptDropped(
  store: QueueStore,
  by: string,
  options: { directories?: readonly string[] } = {},
): Promise<Adoption> {
  const result: Adoption = { adopted: [], rejected: [] };
  const entries = await readdir(store.stageDir("queued"), { withFileTypes: true }).catch(() => []);
  const check = options.directories ? new Set(options.directories) : undefined;
  for (const entry of entries) {
    if (entry.name.startsWith(".")) continue;
    if (entry.isSymbolicLink()) {
      const aside = store.stateDir("broken");
      await mkdir(aside, { recursive: true });
      await rename(
        join(store.stageDir("queued"), entry.name),
        join(aside, `${safeName(entry.name)}.${Date.now()}`),
      ).catch(() => {});
      result.rejected.push({
        id: safeName(entry.name),
        problem: `queued/${JSON.stringify(entry.name)} is a symbolic link: aq follows no link inside the queue; moved to .aq/broken/`,
      });
    } else if (entry.isFile() && entry.name.endsWith(".md")) {
      const outcome = await adoptFile(store, entry.name, by);
      if (outcome?.problem) result.rejected.push({ id: outcome.id, problem: outcome.problem });
      else if (outcome) result.adopted.push(outcome.id);
    } else if (entry.isDirectory() && !JOB_ID.test(entry.name)) {
      const outcome = await adoptMisnamed(store, entry.name, by);
      if (outcome) result.rejected.push(outcome);
    } else if (entry.isDirectory() && (!check || check.has(entry.name))) {
      const outcome = await adoptDirectory(store, entry.name, by);
      if (outcome) result.rejected.push(outcome);
    }
  }
  return result;
}

/** A name made safe to show in one line and to use as a file name. */
function safeName(name: string): string {
  return idFromStem(name) ?? "unnamed";
}

async function adoptFile(
  store: QueueStore,
  name: string,
  by: string,
): Promise<{ id: string; problem?: string } | undefined> {
  const path = join(store.stageDir("queued"), name);
  if (!(await settled(path))) return undefined; // still being written: next round
  const text = await readFile(path, { encoding: "utf8", flag: NO_FOLLOW }).catch(() => undefined);
  if (text === undefined) return undefined; // another runner took it
  const stem = name.slice(0, -3);
  let id = idFromStem(stem) ?? `job-${randomBytes(3).toString("hex")}`;
  const existing = await store.locate(id);
  if (existing) {
    const same = await readFile(join(store.jobDir(existing, id), JOB_FILE), {
      encoding: "utf8",
      flag: NO_FOLLOW,
    }).catch(() => undefined);
    if (same === text) {
      await rm(path, { force: true }); // adopted before a crash; only the file was left
      return undefined;
    }
    id = `${id}-${randomBytes(2).toString("hex")}`;
  }
  let spec: JobSpec | undefined;
  let problem: string | undefined;
  try {
    spec = parseJob(text, name);
  } catch (error) {
    problem = oneLine(error);
  }
  const job: NewJob = {
    id,
    text,
    spec: spec ?? { frontmatter: {}, unknownKeys: [], body: text },
    origin: { kind: "local", adoptedFrom: name },
  };
  try {
    await store.create(job, problem ? { stage: "failed", by, reason: problem } : { by });
  } catch (error) {
    if (error instanceof AqError && error.code === "AQ_CONFLICT") return undefined; // a racing runner adopted it
    throw error;
  }
  await rm(path, { force: true });
  return problem ? { id, problem } : { id };
}

/** A directory whose name is not a job id (it would name a branch and paths): failed under a safe id. */
async function adoptMisnamed(
  store: QueueStore,
  name: string,
  by: string,
): Promise<{ id: string; problem: string } | undefined> {
  const id = `${safeName(name).slice(0, 90)}-${randomBytes(2).toString("hex")}`;
  const problem = `queued/${JSON.stringify(name)}: not a valid job id (letters, digits, '-' and '_', at most 100, starting with a letter or digit); renamed ${id}`;
  try {
    await rename(store.jobDir("queued", name), store.jobDir("failed", id));
  } catch {
    return undefined; // gone meanwhile
  }
  await freshMeta(store, "failed", id, by, problem);
  return { id, problem };
}

/** A directory in queued/ whose meta.json is missing or unreadable, or whose files are links. */
async function adoptDirectory(
  store: QueueStore,
  id: string,
  by: string,
): Promise<{ id: string; problem: string } | undefined> {
  const dir = store.jobDir("queued", id);
  const links = linkedFiles(dir);
  if (links.length) {
    const problem = linkProblem(links);
    try {
      await rename(dir, store.jobDir("failed", id));
    } catch {
      return undefined;
    }
    // The links stay (renamed, never followed) for a person to look at; aq writes a meta of its own.
    const failedDir = store.jobDir("failed", id);
    for (const name of links) await rename(join(failedDir, name), join(failedDir, `${name}.link`)).catch(() => {});
    await freshMeta(store, "failed", id, by, problem);
    return { id, problem };
  }
  try {
    await readMeta(join(dir, META_FILE));
    return undefined;
  } catch (error) {
    if (!(error instanceof AqError)) throw error;
    const text = await readFile(join(dir, JOB_FILE), { encoding: "utf8", flag: NO_FOLLOW }).catch(() => undefined);
    let problem =
      error.code === "AQ_NOT_FOUND"
        ? undefined
        : `meta.json unreadable: ${oneLine(error).replace(`${join(dir, META_FILE)}: `, "")}`;
    let spec: JobSpec | undefined;
    if (text === undefined) problem = "job.md is missing (a half-written job directory)";
    else {
      try {
        spec = parseJob(text, `${id}/job.md`);
      } catch (parseError) {
        problem ??= oneLine(parseError);
      }
    }
    const metaPath = join(dir, META_FILE);
    if (lstatSync(metaPath, { throwIfNoEntry: false })) await rename(metaPath, `${metaPath}.corrupt.${Date.now()}`);
    await store.replaceMeta("queued", id, metaFor(id, "queued", by, spec, problem ? "meta.json repaired" : "adopted"));
    if (problem) {
      await store.move(id, "queued", "failed", { by, reason: problem });
      return { id, problem };
    }
    return undefined;
  }
}

async function freshMeta(store: QueueStore, stage: "failed", id: string, by: string, problem: string): Promise<void> {
  const meta = metaFor(id, stage, by, undefined, problem);
  await store.replaceMeta(stage, id, { ...meta, reason: problem });
}

function metaFor(
  id: string,
  stage: "queued" | "failed",
  by: string,
  spec: JobSpec | undefined,
  reason: string,
): JobMeta {
  const now = new Date().toISOString();
  return {
    id,
    stage,
    attempts: 0,
    priority: spec?.priority ?? 0,
    createdAt: now,
    origin: { kind: "local" },
    history: [{ from: null, to: stage, at: now, by, reason }],
    ...(spec?.lock ? { lock: spec.lock } : {}),
  };
}

/** A file someone may still be writing (`cp job.md queue/queued/`) is adopted once it stops changing. */
async function settled(path: string, quietMs = 200): Promise<boolean> {
  const first = await stat(path).catch(() => undefined);
  if (!first) return false;
  const age = Date.now() - first.mtimeMs;
  if (age >= quietMs) return true;
  await new Promise((resolve) => setTimeout(resolve, quietMs - age));
  const second = await stat(path).catch(() => undefined);
  return second !== undefined && second.size === first.size && second.mtimeMs === first.mtimeMs;
}
