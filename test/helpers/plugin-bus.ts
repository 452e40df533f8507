import { createAq, type Aq } from "../../src/app.ts";
import type { RunnerHooks } from "../../src/core/hooks.ts";
import { parseJob } from "../../src/core/job-file.ts";
import type { JobRecord } from "../../src/core/queue-store.ts";
import { writeTestConfig } from "./cli.ts";
import { jobText } from "./jobs.ts";
import { recordingLogger } from "./logger.ts";

/**
 * aq assembled in this process over a fresh queue in `dir` (the test config: shell jobs, short
 * polls, no backoff), with a recording logger. Tests tap `aq.hooks` as a plugin would.
 */
export async function openBus(dir: string, config: Record<string, unknown> = {}) {
  // Only the taps of the test itself on the bus: the built-in tracker-echo is turned off.
  writeTestConfig(dir, { plugins: [["tracker-echo", false]], ...config });
  const log = recordingLogger();
  const aq = await createAq({ cwd: dir, env: {}, logger: log.logger, by: "cli:test" });
  return { aq, log };
}

/** Puts a shell job in queued/ the way `aq add` does (hooks hear of it). */
export async function addJob(
  aq: Aq,
  id: string,
  body: string,
  frontmatter: Record<string, unknown> = {},
): Promise<JobRecord> {
  const text = jobText({ engine: "shell", ...frontmatter }, body);
  const record = await aq.store.create(
    { id, text, spec: parseJob(text, `${id}.md`), origin: { kind: "local" } },
    { by: aq.by },
  );
  await aq.lifecycle.created(record, aq.by);
  return record;
}

export interface HookCall {
  readonly hook: keyof RunnerHooks;
  readonly arg: Record<string, unknown>;
}

/**
 * Taps every hook of the table (as plugin `name`) and records each call with its argument, in
 * order. Taps answer nothing, so gates and suppliers are left to the other plugins.
 */
export function recordHooks(hooks: RunnerHooks, name = "recorder"): HookCall[] {
  const calls: HookCall[] = [];
  const record = (hook: keyof RunnerHooks) => (arg: unknown) => {
    calls.push({ hook, arg: arg as Record<string, unknown> });
  };
  hooks.runnerStart.tap(name, record("runnerStart"));
  hooks.beforeClaim.tap(name, (ctx) => void record("beforeClaim")(ctx));
  hooks.onIdle.tap(name, (ctx) => void record("onIdle")(ctx));
  hooks.building.tap(name, record("building"));
  hooks.onStage.tap(name, record("onStage"));
  hooks.onTerminal.tap(name, record("onTerminal"));
  hooks.beforeShip.tap(name, (ctx) => void record("beforeShip")(ctx));
  hooks.runnerStop.tap(name, record("runnerStop"));
  return calls;
}

/** A call as `hook` or `hook jobId from→to`, to compare sequences at a glance. */
export function describeCall(call: HookCall): string {
  const { hook, arg } = call;
  if (hook === "onStage" || hook === "onTerminal")
    return `${hook} ${String(arg.jobId)} ${String(arg.from)}→${String(arg.to)}`;
  if (hook === "building") return `${hook} ${String(arg.jobId)}`;
  return hook;
}
