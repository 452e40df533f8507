import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { FencedError } from "../../src/core/errors.ts";
import type { ClaimedJob, StageEvent } from "../../src/core/hooks.ts";
import { Runner } from "../../src/core/runner.ts";
import { metaOf, stageOf } from "../helpers/jobs.ts";
import { addJob, describeCall, openBus, recordHooks } from "../helpers/plugin-bus.ts";
import { tempDir } from "../helpers/temp.ts";

const stageEvents = (calls: ReturnType<typeof recordHooks>) =>
  calls.filter((call) => call.hook === "onStage").map((call) => call.arg as unknown as StageEvent);

describe("the hook bus during a run", () => {
  it("calls runnerStart, beforeClaim, onStage for each transition, building and runnerStop in order, with the documented arguments", async () => {
    const dir = tempDir();
    const { aq } = await openBus(dir);
    const calls = recordHooks(aq.hooks);
    await addJob(aq, "j1", "echo built > built.txt");
    const runner = new Runner(aq);

    const summary = await runner.run({ mode: "once", concurrency: 1 });

    expect(summary.outcomes).toEqual({ j1: "review" });
    expect(readFileSync(join(dir, "built.txt"), "utf8")).toBe("built\n");
    expect(calls.map(describeCall)).toEqual([
      "onStage j1 null→queued",
      "runnerStart",
      "beforeClaim",
      "onStage j1 queued→assigned",
      "onStage j1 assigned→building",
      "building j1",
      "onStage j1 building→review",
      "runnerStop",
    ]);

    const runnerCtx = { runnerId: runner.id, slots: 1, draining: false, running: [] };
    expect(calls.find((c) => c.hook === "runnerStart")!.arg).toEqual(runnerCtx);
    expect(calls.find((c) => c.hook === "beforeClaim")!.arg).toEqual(runnerCtx);
    expect(calls.find((c) => c.hook === "runnerStop")!.arg).toEqual(runnerCtx);

    const [created, claimed, building, review] = stageEvents(calls);
    expect(created).toMatchObject({
      jobId: "j1",
      from: null,
      to: "queued",
      by: "cli:test",
      meta: { id: "j1", stage: "queued", attempts: 0, origin: { kind: "local" } },
    });
    expect(claimed).toMatchObject({
      jobId: "j1",
      from: "queued",
      to: "assigned",
      by: runner.id,
      meta: { id: "j1", stage: "assigned", attempts: 1 },
    });
    expect(building).toMatchObject({
      jobId: "j1",
      from: "assigned",
      to: "building",
      by: runner.id,
      meta: { id: "j1", stage: "building", attempts: 1 },
    });
    expect(review).toMatchObject({
      jobId: "j1",
      from: "building",
      to: "review",
      by: runner.id,
      meta: { id: "j1", stage: "review", attempts: 1 },
    });
    expect(review!.meta.history.map((entry) => `${entry.from}→${entry.to}`)).toEqual([
      "null→queued",
      "queued→assigned",
      "assigned→building",
      "building→review",
    ]);
    expect(review!.reason).toBeUndefined();

    const buildingCtx = calls.find((c) => c.hook === "building")!.arg as {
      jobId: string;
      meta: { stage: string };
      signal: AbortSignal;
      abort: unknown;
    };
    expect(buildingCtx.jobId).toBe("j1");
    expect(buildingCtx.meta.stage).toBe("building");
    expect(buildingCtx.signal).toBeInstanceOf(AbortSignal);
    expect(typeof buildingCtx.abort).toBe("function");
    // The signal ends with the build, so a tap's timer (a lease renew) stops with it.
    expect(buildingCtx.signal.aborted).toBe(true);
  });

  it("calls onTerminal only when a job comes to rest: not for review, not for a failure that is retried", async () => {
    const dir = tempDir();
    const { aq } = await openBus(dir);
    const calls = recordHooks(aq.hooks);
    await addJob(aq, "ok", "true");
    await addJob(aq, "flaky", "exit 1", { maxAttempts: 2 });
    await addJob(aq, "stuck", "exit 3");

    const summary = await new Runner(aq).run({ mode: "drain", concurrency: 1 });

    expect(summary.outcomes).toEqual({ ok: "review", flaky: "dead_letter", stuck: "blocked" });
    const flakyPath = stageEvents(calls)
      .filter((e) => e.jobId === "flaky")
      .map((e) => `${e.from}→${e.to}`);
    expect(flakyPath).toEqual([
      "null→queued",
      "queued→assigned",
      "assigned→building",
      "building→failed",
      "failed→queued",
      "queued→assigned",
      "assigned→building",
      "building→failed",
      "failed→dead_letter",
    ]);
    const terminal = calls
      .filter((c) => c.hook === "onTerminal")
      .map(describeCall)
      .sort();
    expect(terminal).toEqual(["onTerminal flaky failed→dead_letter", "onTerminal stuck building→blocked"]);
    // Each onTerminal follows the onStage of the same transition.
    for (const [i, call] of calls.entries()) {
      if (call.hook !== "onTerminal") continue;
      expect(describeCall(calls[i - 1]!)).toBe(describeCall(call).replace("onTerminal", "onStage"));
      expect(call.arg).toMatchObject({ meta: { stage: call.arg.to } });
    }
    const deadLetter = calls.find((c) => c.hook === "onTerminal" && c.arg.jobId === "flaky")!
      .arg as unknown as StageEvent;
    expect(deadLetter.reason).toMatch(/^2 of 2 attempts failed; last: engine exited 1/);
  });

  it("calls onIdle when the queue is empty and runs the job a plugin supplies with ctx.materialize, keeping its origin", async () => {
    const dir = tempDir();
    const { aq } = await openBus(dir);
    const calls = recordHooks(aq.hooks);
    const idleContexts: Array<Record<string, unknown>> = [];
    aq.hooks.onIdle.tapPromise("supplier", async (ctx): Promise<ClaimedJob | undefined> => {
      idleContexts.push({ ...ctx });
      if (idleContexts.length > 1) return undefined;
      return ctx.materialize({
        id: "fleet-f1",
        body: "echo supplied > supplied.txt",
        options: { engine: "shell" },
        origin: { kind: "fleet", jobId: "F1" },
        extra: { fleet: { jobId: "F1", leaseEpoch: 3 } },
      });
    });
    await addJob(aq, "local-1", "true");
    const runner = new Runner(aq);

    const summary = await runner.run({ mode: "drain", concurrency: 1 });

    expect(summary.outcomes).toEqual({ "local-1": "review", "fleet-f1": "review" });
    // Asked only once the local job was done and nothing was left on disk; asked again, it had nothing.
    const order = calls.map(describeCall);
    expect(order.indexOf("onIdle")).toBeGreaterThan(order.indexOf("onStage local-1 building→review"));
    expect(idleContexts).toHaveLength(2);
    expect(idleContexts[0]).toMatchObject({ runnerId: runner.id, slots: 1, draining: false, running: [] });
    expect(typeof idleContexts[0]!.materialize).toBe("function");

    expect(readFileSync(join(dir, "supplied.txt"), "utf8")).toBe("supplied\n");
    const meta = metaOf(aq.config.queueDir, "fleet-f1");
    expect(meta.stage).toBe("review");
    expect(meta.origin).toEqual({ kind: "fleet", jobId: "F1" });
    expect(meta.fleet).toEqual({ jobId: "F1", leaseEpoch: 3 });
    expect(meta.history.map((entry) => `${entry.from}→${entry.to} by ${entry.by}`)).toEqual([
      `null→queued by ${runner.id}`,
      `queued→assigned by ${runner.id}`,
      `assigned→building by ${runner.id}`,
      `building→review by ${runner.id}`,
    ]);
    expect(order.filter((call) => call.includes("fleet-f1"))).toEqual([
      "onStage fleet-f1 queued→assigned",
      "onStage fleet-f1 assigned→building",
      "building fleet-f1",
      "onStage fleet-f1 building→review",
    ]);
  });

  it("materializes the job an onIdle tap answers with ({ input }) and runs it, owned by the runner", async () => {
    const dir = tempDir();
    const { aq } = await openBus(dir);
    let asked = 0;
    aq.hooks.onIdle.tapPromise("supplier", async () => {
      if (asked++ > 0) return undefined;
      return {
        input: {
          id: "sup-1",
          body: "echo answered > answered.txt",
          options: { engine: "shell" },
          origin: { kind: "supplied", ref: "S1" },
        },
      };
    });
    const runner = new Runner(aq);

    const summary = await runner.run({ mode: "drain", concurrency: 1 });

    expect(summary.outcomes).toEqual({ "sup-1": "review" });
    expect(readFileSync(join(dir, "answered.txt"), "utf8")).toBe("answered\n");
    const meta = metaOf(aq.config.queueDir, "sup-1");
    expect(meta.origin).toEqual({ kind: "supplied", ref: "S1" });
    expect(meta.history.slice(0, 2).map((entry) => `${entry.from}→${entry.to} by ${entry.by}`)).toEqual([
      `null→queued by ${runner.id}`,
      `queued→assigned by ${runner.id}`,
    ]);
  });

  it("stops claiming while beforeClaim vetoes: the jobs stay queued", async () => {
    const dir = tempDir();
    const { aq } = await openBus(dir);
    const calls = recordHooks(aq.hooks);
    let asked = 0;
    aq.hooks.beforeClaim.tap("drainer", () => {
      asked++;
      return { reason: "draining for maintenance" };
    });
    await addJob(aq, "a", "echo ran > ran-a.txt");
    await addJob(aq, "b", "echo ran > ran-b.txt");

    const summary = await new Runner(aq).run({ mode: "drain", concurrency: 2 });

    expect(summary.outcomes).toEqual({});
    expect(asked).toBeGreaterThanOrEqual(1);
    expect([stageOf(aq.config.queueDir, "a"), stageOf(aq.config.queueDir, "b")]).toEqual(["queued", "queued"]);
    expect(metaOf(aq.config.queueDir, "a").attempts).toBe(0);
    expect(existsSync(join(dir, "ran-a.txt")) || existsSync(join(dir, "ran-b.txt"))).toBe(false);
    expect(calls.map(describeCall)).not.toContain("onIdle");
    expect(stageEvents(calls).map((e) => `${e.jobId} ${e.from}→${e.to}`)).toEqual(["a null→queued", "b null→queued"]);
  });
});

describe("plugin failures on the bus", () => {
  it("logs a throwing onStage tap as one line naming the plugin and the hook, and the job still reaches review", async () => {
    const dir = tempDir();
    const { aq, log } = await openBus(dir);
    aq.hooks.onStage.tapPromise("flaky-sink", async () => {
      throw new Error("sink down\n    at a stack line that must not be logged");
    });
    const calls = recordHooks(aq.hooks, "later-plugin");
    await addJob(aq, "j1", "true");

    const summary = await new Runner(aq).run({ mode: "once", concurrency: 1 });

    expect(summary.outcomes).toEqual({ j1: "review" });
    expect(stageOf(aq.config.queueDir, "j1")).toBe("review");
    // The plugin after the failing one still hears of every transition.
    const heard = stageEvents(calls).map((e) => `${e.from}→${e.to}`);
    expect(heard).toContain("building→review");
    const failures = log.records.filter((entry) => entry.tag === "flaky-sink");
    expect(failures).toHaveLength(heard.length);
    for (const entry of failures) {
      expect(entry.type).toBe("error");
      expect(entry.args).toEqual(["flaky-sink: onStage failed: sink down"]);
    }
  });

  it("fails the job as fenced when an onStage tap throws FencedError on building → review; it never rests in review or ships", async () => {
    const dir = tempDir();
    const { aq, log } = await openBus(dir);
    aq.hooks.onStage.tapPromise("lease", async (event) => {
      if (event.to === "review") throw new FencedError(event.jobId, "409 on PATCH review");
    });
    const calls = recordHooks(aq.hooks);
    await addJob(aq, "j1", "true");

    const summary = await new Runner(aq).run({ mode: "once", concurrency: 1 });

    expect(summary.outcomes).toEqual({ j1: "failed" });
    expect(stageOf(aq.config.queueDir, "j1")).toBe("failed");
    const meta = metaOf(aq.config.queueDir, "j1");
    expect(meta.reason).toBe("fenced");
    expect(meta.history.at(-1)).toMatchObject({ from: "review", to: "failed", reason: "fenced" });
    expect(meta.history.map((entry) => entry.to)).not.toContain("shipped");
    expect(meta.events).toEqual([expect.objectContaining({ type: "fenced-abort", detail: "409 on PATCH review" })]);
    expect(calls.filter((c) => c.hook === "onTerminal").map(describeCall)).toEqual(["onTerminal j1 review→failed"]);
    // A fence is not a plugin failure: it is not logged as one.
    expect(log.records.filter((entry) => entry.tag === "lease")).toEqual([]);
    expect(log.lines().some((line) => line.includes("j1: fenced-abort"))).toBe(true);
  });

  it("never starts the engine when an onStage tap fences the job on assigned → building", async () => {
    const dir = tempDir();
    const { aq } = await openBus(dir);
    aq.hooks.onStage.tapPromise("lease", async (event) => {
      if (event.to === "building") throw new FencedError(event.jobId);
    });
    await addJob(aq, "j1", "echo ran > ran.txt");

    const summary = await new Runner(aq).run({ mode: "once", concurrency: 1 });

    expect(summary.outcomes).toEqual({ j1: "failed" });
    expect(metaOf(aq.config.queueDir, "j1")).toMatchObject({ stage: "failed", reason: "fenced" });
    expect(existsSync(join(dir, "ran.txt"))).toBe(false);
  });
});
