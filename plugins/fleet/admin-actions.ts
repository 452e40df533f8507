import { readFile } from "node:fs/promises";
import { basename } from "node:path";
import { AqError, oneLine } from "../../src/index.ts";
import { checkJobId, newJobId } from "../../src/core/job-id.ts";
import { parseJob } from "../../src/core/job-file.ts";
import type { AdminClient } from "./admin-client.ts";

interface JobView {
  id: string;
  title: string | null;
  stage: string;
  leaseEpoch: number;
  factoryId: string | null;
  requires: string[];
  priority: number;
  leaseExpiresAt: string | null;
  createdAt: number;
  updatedAt: number;
  waiting?: string;
}
interface Waiting {
  requires: string[];
  jobs: number;
  missing: string[];
}
interface Observed {
  factoryId: string;
  jobId: string;
  stage: string;
  stages: string[];
  lastSeen: string;
}
interface FactoryView {
  id: string;
  mode: string;
  health: string;
  load: number;
  capabilities: string[];
  lastSeen: string;
  live: boolean;
  leases: string[];
}

type Args = Record<string, unknown> & { target?: unknown };

/** One operator action against the coordinator; answers the exit code. */
export async function runAdmin(action: string, client: AdminClient, args: Args): Promise<number> {
  const json = Boolean(args.json);
  const target = args.target === undefined ? undefined : String(args.target);
  if (action === "add") return add(client, target, args);
  if (action === "jobs") return jobs(client, args.stage === undefined ? undefined : String(args.stage), json);
  if (action === "factories") return factories(client, json);
  if (!target) throw new AqError("AQ_BAD_USAGE", `aq fleet ${action}: name the job (aq fleet ${action} ID)`);
  if (action === "job") return job(client, target, json);
  return cancel(client, target, json);
}

async function add(client: AdminClient, file: string | undefined, args: Args): Promise<number> {
  if (!file) throw new AqError("AQ_BAD_USAGE", "aq fleet add: name a job file, or - to read one from stdin");
  const source = file === "-" ? "stdin" : file;
  const text = file === "-" ? await readStdin() : await readJobText(file);
  const spec = parseJob(text, source); // the same check as aq add: a bad file never leaves this host
  const requires =
    args.requires === undefined
      ? []
      : String(args.requires)
          .split(",")
          .map((cap) => cap.trim())
          .filter(Boolean);
  const bad = requires.find((cap) => /\s/.test(cap));
  if (bad !== undefined)
    throw new AqError(
      "AQ_BAD_USAGE",
      `aq fleet add: --requires ${JSON.stringify(bad)} is not a capability such as engine:codex`,
    );
  let priority: number | undefined;
  if (args.priority !== undefined) {
    priority = Number(args.priority);
    if (!Number.isInteger(priority))
      throw new AqError(
        "AQ_BAD_USAGE",
        `aq fleet add: --priority must be an integer, not ${JSON.stringify(args.priority)}`,
      );
  }
  const stem = file === "-" ? undefined : basename(file).replace(/\.md$/i, "");
  const id = args.id !== undefined ? checkJobId(String(args.id)) : newJobId(stem);
  if (spec.unknownKeys.length)
    process.stderr.write(
      `aq fleet add: ${source}: unknown frontmatter keys kept for plugins: ${spec.unknownKeys.join(", ")}\n`,
    );
  const { data } = await client.call<JobView>("POST", "fleet/jobs", {
    id,
    ...(stem ? { title: stem } : {}),
    text,
    requires,
    ...(priority === undefined ? {} : { priority }),
  });
  if (args.json) print(JSON.stringify(data, null, 2));
  else print(data.id);
  return 0;
}

async function jobs(client: AdminClient, stage: string | undefined, json: boolean): Promise<number> {
  const { data } = await client.call<{ jobs: JobView[]; waiting: Waiting[]; observed: Observed[] }>(
    "GET",
    `fleet/jobs${stage ? `?stage=${encodeURIComponent(stage)}` : ""}`,
  );
  if (json) {
    print(JSON.stringify(data, null, 2));
    return 0;
  }
  const rows = data.jobs.map((job) => [
    job.id,
    job.stage,
    String(job.leaseEpoch),
    job.factoryId ?? "-",
    String(job.priority),
    job.requires.join(",") || "-",
    job.waiting ? `waiting: ${job.waiting}` : "",
  ]);
  const lines = data.jobs.length
    ? table(["ID", "STAGE", "EPOCH", "HOLDER", "PRIO", "REQUIRES", "NOTE"], rows)
    : [`no fleet jobs${stage ? ` in ${stage}` : ""}`];
  for (const group of data.waiting) {
    const what = group.missing.length
      ? `capabilities no live factory has: ${group.missing.join(", ")}`
      : group.requires.length
        ? `${group.requires.join(" and ")} together, which no live factory has`
        : "a live factory, and none is";
    lines.push(`${group.jobs} queued job(s) wait for ${what}`);
  }
  if (data.observed.length) {
    lines.push("", "observed on shadow factories (their own queues; the coordinator changes nothing there):");
    lines.push(
      ...table(
        ["FACTORY", "JOB", "STAGE", "STAGES SEEN", "LAST SEEN"],
        data.observed.map((job) => [job.factoryId, job.jobId, job.stage, job.stages.join(" → "), job.lastSeen]),
      ),
    );
  }
  print(lines.join("\n"));
  return 0;
}

async function job(client: AdminClient, id: string, json: boolean): Promise<number> {
  const path = `fleet/jobs/${encodeURIComponent(id)}`;
  const [{ data: view }, { data: runs }, { data: events }] = await Promise.all([
    client.call<JobView>("GET", path),
    client.call<{
      runs: Array<{
        factoryId: string;
        leaseEpoch: number;
        startedAt: string;
        endedAt: string | null;
        outcome: string | null;
      }>;
    }>("GET", `${path}/runs`),
    client.call<{
      events: Array<{
        at: string;
        type: string;
        factoryId: string | null;
        leaseEpoch: number | null;
        stage: string | null;
        detail: string | null;
      }>;
    }>("GET", `${path}/events`),
  ]);
  if (json) {
    print(JSON.stringify({ ...view, runs: runs.runs, events: events.events }, null, 2));
    return 0;
  }
  const lines = [
    `job       ${view.id}${view.title ? `  (${view.title})` : ""}`,
    `stage     ${view.stage}${view.waiting ? `  (waiting: ${view.waiting})` : ""}`,
    `epoch     ${view.leaseEpoch}`,
    `holder    ${view.factoryId ?? "-"}${view.leaseExpiresAt ? `  (lease until ${view.leaseExpiresAt})` : ""}`,
    `requires  ${view.requires.join(", ") || "-"}`,
    `priority  ${view.priority}`,
    `runs      ${runs.runs.length ? "" : "none"}`,
    ...runs.runs.map(
      (run) =>
        `  epoch ${run.leaseEpoch}  ${run.factoryId}  ${run.startedAt} → ${run.endedAt ?? "now"}  ${run.outcome ?? "running"}`,
    ),
    "events",
    ...events.events.map(
      (event) =>
        `  ${event.at}  ${event.type}${event.stage ? ` ${event.stage}` : ""}${event.leaseEpoch === null ? "" : ` epoch ${event.leaseEpoch}`}${event.factoryId ? ` ${event.factoryId}` : ""}${event.detail && event.type !== "stage" ? `  (${event.detail})` : ""}`,
    ),
  ];
  print(lines.join("\n"));
  return 0;
}

async function factories(client: AdminClient, json: boolean): Promise<number> {
  const { data } = await client.call<{ factories: FactoryView[] }>("GET", "fleet/factories");
  if (json) {
    print(JSON.stringify(data, null, 2));
    return 0;
  }
  if (!data.factories.length) {
    print("no factory has sent a heartbeat yet");
    return 0;
  }
  const rows = data.factories.map((factory) => [
    factory.id,
    factory.mode,
    factory.live ? factory.health : `${factory.health} (not seen lately)`,
    factory.load.toFixed(2),
    factory.lastSeen,
    factory.leases.join(",") || "-",
    factory.capabilities.join(","),
  ]);
  print(table(["FACTORY", "MODE", "HEALTH", "LOAD", "LAST SEEN", "LEASES", "CAPABILITIES"], rows).join("\n"));
  return 0;
}

async function cancel(client: AdminClient, id: string, json: boolean): Promise<number> {
  const { data } = await client.call<{ id: string; stage: string; leaseEpoch: number; fenced: string | null }>(
    "POST",
    `fleet/jobs/${encodeURIComponent(id)}/cancel`,
    {},
  );
  if (json) print(JSON.stringify(data, null, 2));
  else
    print(
      data.fenced
        ? `cancelled ${data.id}: ${data.fenced} is fenced at its next call (lease epoch now ${data.leaseEpoch})`
        : `cancelled ${data.id}`,
    );
  return 0;
}

function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  return [header, ...rows].map((row) =>
    row
      .map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!)))
      .join("  ")
      .trimEnd(),
  );
}

function print(text: string): void {
  process.stdout.write(`${text}\n`);
}

async function readJobText(path: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new AqError("AQ_NOT_FOUND", `${path}: no such file`);
    if (code === "EISDIR") throw new AqError("AQ_BAD_USAGE", `${path}: is a directory, not a job file`);
    throw new AqError("AQ_BAD_JOB", `${path}: cannot be read: ${oneLine(error)}`);
  }
}

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) throw new AqError("AQ_BAD_USAGE", "aq fleet add -: stdin is a terminal; pipe a job file in");
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}
