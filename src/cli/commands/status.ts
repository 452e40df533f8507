import { join } from "node:path";
import { defineCommand } from "citty";
import { formatDuration } from "../../core/duration.ts";
import type { JobMeta } from "../../core/meta.ts";
import type { StatusJob, StatusReport } from "../../core/contributions.ts";
import { LOG_FILE } from "../../core/queue-store.ts";
import { STAGE_NAMES } from "../../core/stages.ts";
import { collectStatus, statusJobOf } from "../../core/status.ts";
import { type Column, renderTable, terminalWidth } from "../term/table.ts";
import { painter, STAGE_COLOR } from "../term/color.ts";
import { attemptTimes } from "../attempt-times.ts";
import { commonArgs, jsonArg, openAq, print, printJson } from "../_shared.ts";

export default defineCommand({
  meta: { name: "status", description: "Counts per stage and the jobs; with an ID, that job's meta and history" },
  args: {
    id: { type: "positional", description: "A job id: show its detail", required: false },
    all: { type: "boolean", description: "List shipped jobs too (hidden by default)" },
    ...commonArgs,
    ...jsonArg,
  },
  async run({ args }) {
    const aq = await openAq(args, "status");
    if (args.id) {
      const job = await aq.store.get(args.id);
      if (args.json) return printJson({ id: job.id, stage: job.stage, dir: job.dir, meta: job.meta });
      print(`${job.id}  ${job.stage}${job.meta.reason ? `  (${job.meta.reason})` : ""}`);
      print(
        `  attempts ${job.meta.attempts}, priority ${job.meta.priority}, origin ${job.meta.origin.kind}, created ${job.meta.createdAt}`,
      );
      const label = labelOf(statusJobOf(aq.hooks, job.meta, job.stage));
      if (label) print(`  ${label}`);
      if (job.meta.agent) print(`  ${describeAgent(job.meta.agent)}`);
      if (job.meta.wip) print(`  wip ${job.meta.wip.branch} @ ${job.meta.wip.commit.slice(0, 12)}`);
      if (job.meta.worktree)
        print(
          `  worktree ${job.meta.worktree.path} (base ${job.meta.worktree.baseBranch || job.meta.worktree.baseCommit.slice(0, 12)})`,
        );
      const attempts = attemptTimes(job.meta.history);
      if (attempts.length) {
        const built = attempts.reduce((sum, a) => sum + (a.buildMs ?? 0), 0);
        print(
          `  waited in the queue ${formatDuration(attempts[0]!.waitedMs)}, built ${formatDuration(built)} in ${attempts.length} attempt(s): ${attempts.map((a) => `#${a.attempt} ${a.buildMs === undefined ? "not built" : formatDuration(a.buildMs)}${a.outcome ? ` → ${a.outcome}` : " (running)"}`).join(", ")}`,
        );
      }
      print("  history:");
      for (const entry of job.meta.history)
        print(
          `    ${entry.at}  ${entry.from ?? "·"} → ${entry.to}  by ${entry.by}${entry.reason ? `  (${entry.reason})` : ""}`,
        );
      print(`  log ${join(job.dir, LOG_FILE)}`);
      print(`  read it with: aq logs ${job.id}${job.stage === "building" || job.stage === "assigned" ? " -f" : ""}`);
      return;
    }
    const report = await collectStatus(aq.store, aq.hooks);
    if (args.json) return printJson(report);
    printHuman(report, aq.store.root, Boolean(args.all));
  },
});

function printHuman(report: StatusReport, root: string, all: boolean): void {
  const paint = painter(process.stdout);
  const stage = (name: string) => paint(STAGE_COLOR[name] ?? "reset", name);
  if (report.factoryId) print(`factory ${paint("bold", report.factoryId)}`);
  print(paint("dim", `queue ${root}`));
  print(
    STAGE_NAMES.filter((name) => report.counts[name] > 0)
      .map((name) => `${stage(name)} ${report.counts[name]}`)
      .join(" · ") || "empty",
  );
  const quarantined = report.jobs.filter((job) => job.stage === "quarantine");
  if (quarantined.length) {
    print("");
    print(
      paint(
        ["bold", "magenta"],
        `!! ${quarantined.length} quarantined job(s) need a person: inspect with aq status ID; requeue with aq retry ID; discard with aq block ID --reason R`,
      ),
    );
    for (const job of quarantined) {
      const label = labelOf(job);
      print(`   ${job.id}${label ? ` (${label})` : ""}  ${job.reason ?? ""}`);
    }
  }
  for (const note of report.notes) print(note);
  for (const broken of report.broken) print(paint("red", `!! ${broken.stage}/${broken.id}: ${broken.problem}`));
  const rows = report.jobs.filter((job) => all || job.stage !== "shipped");
  if (rows.length) {
    print("");
    const now = Date.now();
    const extra = columnsOf(rows);
    const columns: Column[] = [
      { header: "ID", paint: (cell) => paint("bold", cell) },
      { header: "STAGE", paint: (cell) => stage(cell) },
      { header: "PRI" },
      { header: "TRIES" },
      { header: "LOCK" },
      { header: "SINCE" },
      ...extra.map((name) => ({ header: name.toUpperCase() })),
      {
        header: "REASON",
        flex: true,
        paint: (cell, row) => (NEEDS_PERSON.has(rows[row]!.stage) ? paint("yellow", cell) : paint("dim", cell)),
      },
    ];
    const table = rows.map((job) => [
      job.id,
      job.stage,
      String(job.priority),
      String(job.attempts),
      job.lock ?? "",
      formatDuration(Math.max(0, now - Date.parse(job.updatedAt))),
      ...extra.map((name) => String(job.columns?.[name] ?? "")),
      whatNow(job, now),
    ]);
    for (const line of renderTable(columns, table, terminalWidth(process.stdout))) print(line);
  }
  const runners = report.runners as Array<{ pid: number; mode: string; concurrency: number }> | undefined;
  if (runners?.length)
    print(
      `\nrunners: ${runners.map((r) => `pid ${r.pid} (${r.mode}, ${r.concurrency} slot${r.concurrency === 1 ? "" : "s"})`).join(", ")}`,
    );
}

/** The columns plugins give the rows shown, in the order they first appear. */
function columnsOf(rows: readonly StatusJob[]): string[] {
  const names = new Set<string>();
  for (const job of rows) for (const name of Object.keys(job.columns ?? {})) names.add(name);
  return [...names];
}

/** What plugins say a job is: its badges, then its columns as "name value" ("J1, tier urgent"). */
function labelOf(job: StatusJob): string {
  const columns = Object.entries(job.columns ?? {}).map(([name, value]) => `${name} ${value}`);
  return [...(job.badges ?? []), ...columns].join(", ");
}

const NEEDS_PERSON: ReadonlySet<string> = new Set(["quarantine", "blocked", "failed", "dead_letter"]);

/** The last column: why a job rests where it is, what a running agent did last, when a retry comes. */
function whatNow(job: StatusJob, now: number): string {
  if (job.stage === "building" && job.agent?.lastActivityAt)
    return `${job.agent.name} active ${formatDuration(Math.max(0, now - Date.parse(job.agent.lastActivityAt)))} ago`;
  if (job.notBefore && Date.parse(job.notBefore) > now)
    return `retry in ${formatDuration(Date.parse(job.notBefore) - now)}${job.reason ? `: ${job.reason}` : ""}`;
  return job.reason ?? "";
}

/** One line on what the agent CLI reported: enough to tell a working agent from a stuck one. */
export function describeAgent(agent: NonNullable<JobMeta["agent"]>, now = Date.now()): string {
  const parts = [`agent ${agent.name}`];
  if (agent.sessionId) parts[0] += `, session ${agent.sessionId}`;
  if (agent.model) parts.push(`model ${agent.model}`);
  if (agent.turns !== undefined) parts.push(`${agent.turns} turn(s)`);
  if (agent.toolCalls !== undefined) parts.push(`${agent.toolCalls} tool call(s)`);
  if (agent.inputTokens !== undefined || agent.outputTokens !== undefined)
    parts.push(`tokens ${agent.inputTokens ?? "?"} in / ${agent.outputTokens ?? "?"} out`);
  if (agent.costUsd !== undefined) parts.push(`$${agent.costUsd.toFixed(4)}`);
  if (agent.lastActivityAt)
    parts.push(`last activity ${formatDuration(Math.max(0, now - Date.parse(agent.lastActivityAt)))} ago`);
  return parts.join(" · ");
}
