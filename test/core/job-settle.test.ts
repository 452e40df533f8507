import { describe, expect, it } from "vitest";
import { FencedError } from "../../src/core/errors.ts";
import { abortedByPlugin, abortReasonOf, cancelledBy, SHUTDOWN } from "../../src/core/job-run/abort.ts";
import { resumeCommit } from "../../src/core/job-run/plan.ts";
import { settlementOf } from "../../src/core/job-run/settle.ts";
import type { JobMeta } from "../../src/core/meta.ts";

describe("settle: an attempt's outcome decides its stage, reason and retryability", () => {
  it("a fence, from a building tap or thrown by an onStage tap, fails the job as fenced", () => {
    const error = new FencedError("J1", "409 on renew");
    expect(abortedByPlugin(error)).toEqual({ kind: "fenced", error });
    expect(settlementOf(abortReasonOf(error))).toEqual({ to: "fenced", error });
  });

  it("a person's cancel requeues without counting the attempt, or fails for good when they asked for failed", () => {
    const at = "2026-01-01T00:00:00.000Z";
    expect(settlementOf(cancelledBy({ to: "queued", by: "ann", at }))).toEqual({
      to: "queued",
      reason: "cancelled by ann; the attempt does not count",
    });
    expect(settlementOf(cancelledBy({ to: "failed", by: "ann", at }))).toEqual({
      to: "failed",
      reason: "cancelled by ann",
      retryable: false,
    });
  });

  it("the runner's stop-now requeues; a plugin's other abort, a timeout, a stall and an exit code are retried", () => {
    expect(settlementOf(SHUTDOWN)).toMatchObject({ to: "queued" });
    expect(settlementOf(abortReasonOf(new Error("disk full")))).toEqual({
      to: "failed",
      reason: "aborted: disk full",
      retryable: true,
    });
    expect(settlementOf({ kind: "timeout", afterMs: 15 * 60_000 })).toEqual({
      to: "failed",
      reason: "timeout: killed after 15m",
      retryable: true,
    });
    expect(settlementOf({ kind: "stalled", afterMs: 20 * 60_000 })).toMatchObject({ retryable: true });
    expect(settlementOf({ kind: "exited", code: 1, signal: null })).toEqual({
      to: "failed",
      reason: "engine exited 1",
      retryable: true,
    });
  });

  it("a missing engine, a bad job and a worktree left off its branch are not retried", () => {
    const enoent = Object.assign(new Error("spawn x ENOENT"), { code: "ENOENT" });
    expect(settlementOf({ kind: "spawn-failed", error: enoent, engineName: "x", file: "x" })).toMatchObject({
      retryable: false,
    });
    expect(settlementOf({ kind: "unplannable", reason: "bad", retryable: false })).toMatchObject({ retryable: false });
    expect(settlementOf({ kind: "astray", reason: "on main" })).toMatchObject({ to: "failed", retryable: false });
  });

  it("blocked rests in blocked, a clean exit goes to review", () => {
    expect(settlementOf({ kind: "blocked", reason: "needs a key" })).toEqual({ to: "blocked", reason: "needs a key" });
    expect(settlementOf({ kind: "done", durationMs: 5 })).toEqual({ to: "review" });
  });
});

describe("resume from a commit", () => {
  const meta = (extra: Record<string, unknown>) => ({ id: "J1", ...extra }) as unknown as JobMeta;

  it("reads the typed resumeFrom, else the resume key of jobs an earlier aq queued", () => {
    expect(resumeCommit(meta({ resumeFrom: { commit: "abc" } }))).toBe("abc");
    expect(resumeCommit(meta({ resume: { branch: "aq/J1", commit: "def" } }))).toBe("def");
    expect(resumeCommit(meta({ resumeFrom: { commit: "abc" }, resume: { commit: "def" } }))).toBe("abc");
    expect(resumeCommit(meta({}))).toBeUndefined();
  });
});
