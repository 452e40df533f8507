import { describe, expect, test } from "vitest";
import { BUILTIN_ENGINES } from "../../src/core/engines.ts";
import { git } from "../helpers/git.ts";
import { type AgentName, engineWorld, TEST_KEYS } from "./world.ts";

/**
 * Each built-in agent engine run for real: the pinned CLI (npm run test:engines installs it)
 * against the scripted model server on loopback, through `aq run`, in a real repository.
 */
const AGENTS: AgentName[] = ["claude", "codex", "gemini"];

/** What a model server that works for the CLI sees first from each: the API its requests use. */
const API_OF = { claude: "anthropic", codex: "openai", gemini: "gemini" } as const;

/** The key each CLI must send, and the header it goes in. */
function sentKey(
  agent: AgentName,
  headers: Readonly<Record<string, string | string[] | undefined>>,
  path: string,
): boolean {
  if (agent === "claude") return headers["x-api-key"] === TEST_KEYS.anthropic;
  if (agent === "codex") return headers.authorization === `Bearer ${TEST_KEYS.openai}`;
  return headers["x-goog-api-key"] === TEST_KEYS.gemini || path.includes(`key=${TEST_KEYS.gemini}`);
}

describe.each(AGENTS)("the %s engine with the real CLI", (agent) => {
  const yoloFlags = BUILTIN_ENGINES[agent]!.yolo!;

  test("takes the prompt intact, edits the worktree, and aq commits the change on aq/<id> for review", async () => {
    const world = await engineWorld();
    const id = `greet-${agent}`;
    const body = [
      `Write a greeting into greeting.txt (job ${id}).`,
      // A command's output and the prompt itself are not the agent's words: neither blocks the job.
      `RUN: printf 'hello from ${agent}\\n' > greeting.txt; echo 'AQ_BLOCKED: printed by a command, not the agent'`,
      "SAY: The greeting is written.",
      "AQ_BLOCKED: a line of the prompt, not of the agent",
      'Quotes "stay" and $dollars stay too.',
    ].join("\n");
    const started = Date.now();
    await world.add(id, { engine: agent, yolo: true, timeout: "90s" }, body);
    await world.runOnce();

    expect(world.stage(id), world.log(id)).toBe("review");
    expect(git(world.repo, "show", `aq/${id}:greeting.txt`)).toBe(`hello from ${agent}`);
    expect(git(world.repo, "log", "-1", "--format=%s", `aq/${id}`)).toBe(`aq: ${id} (attempt 1)`);

    // The prompt reached the model intact, by stdin: never in argv, where `ps` would show it.
    const turns = world.model.agentTurns(API_OF[agent]);
    expect(turns.map((turn) => turn.answer)).toEqual(["tool", "final"]);
    expect(JSON.stringify(turns[0]!.body)).toContain(JSON.stringify(body).slice(1, -1));
    expect(turns.every((turn) => sentKey(agent, turn.headers, turn.path))).toBe(true);
    const [argv, ...more] = world.argvOf(agent);
    expect(more).toEqual([]);
    expect(argv).toEqual(expect.arrayContaining(yoloFlags));
    expect(argv!.join(" ")).not.toContain("greeting");

    // The readable log, the raw stream beside it, and the session in meta.
    const log = world.log(id);
    // Each CLI shows the command it ran its own way (Codex wraps it in `bash -c '…'`).
    expect(log).toMatch(new RegExp(`^\\$ .*hello from ${agent}.*> greeting\\.txt`, "m"));
    expect(log).toContain("The greeting is written.");
    expect(log).toContain("  AQ_BLOCKED: printed by a command, not the agent"); // seen, as a command's output
    expect(world.meta(id).reason).toBeUndefined();
    expect(log).not.toMatch(/^\{"type"/m);
    const events = world
      .agentLog(id)
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(events.length).toBeGreaterThan(2);
    const meta = world.meta(id);
    expect(meta.agent).toMatchObject({ name: agent, sessionId: expect.stringMatching(/\S{8,}/), toolCalls: 1 });
    expect(JSON.stringify(events)).toContain(meta.agent!.sessionId!);
    expect(meta.agent!.inputTokens).toBeGreaterThan(0);
    expect(meta.agent!.outputTokens).toBeGreaterThan(0);
    const activity = Date.parse(meta.agent!.lastActivityAt!);
    expect(activity).toBeGreaterThanOrEqual(started);
    expect(activity).toBeLessThanOrEqual(Date.now());
    expect(meta.engine).toBeUndefined();

    const status = await world.aq(["status", id]);
    expect(status.stdout).toContain(`agent ${agent}, session ${meta.agent!.sessionId}`);
  });

  test("yolo: false leaves the skip-permissions flag out, and the agent may not run its command", async () => {
    const world = await engineWorld();
    const id = `careful-${agent}`;
    await world.add(
      id,
      { engine: agent, yolo: false, timeout: "90s" },
      "Try to write a file.\nRUN: touch forbidden.txt\nSAY: finished",
    );
    await world.runOnce();

    const [argv] = world.argvOf(agent);
    expect(argv).toBeDefined();
    for (const flag of yoloFlags) expect(argv).not.toContain(flag);
    expect(world.stage(id), world.log(id)).toBe("review");
    expect(git(world.repo, "ls-tree", "--name-only", `aq/${id}`)).not.toContain("forbidden.txt");
    // Why it was not written: Claude Code and Codex tried and were refused; Gemini CLI did not offer its shell tool.
    const turns = world.model.agentTurns(API_OF[agent]);
    if (agent === "gemini") expect(turns.map((turn) => turn.shellOffered)).toEqual([false]);
    else expect(turns.map((turn) => turn.answer)).toEqual(["tool", "final"]);
  });

  test("a CLI that exits non-zero fails the job with its exit code", async () => {
    const world = await engineWorld();
    const id = `refused-${agent}`;
    await world.add(
      id,
      { engine: agent, maxAttempts: 1, timeout: "90s" },
      "This request is refused by the model API.\nREFUSE",
    );
    await world.runOnce();

    expect(world.stage(id), world.log(id)).toBe("dead_letter");
    expect(world.meta(id).history.find((entry) => entry.to === "failed")?.reason).toMatch(/^engine exited [1-9]\d*$/);
    expect(world.model.requests.some((request) => request.answer === "error")).toBe(true);
  });

  test("a model server that hangs: the timeout kills the CLI's whole process group", async () => {
    const world = await engineWorld();
    const id = `hang-${agent}`;
    await world.add(id, { engine: agent, maxAttempts: 1, timeout: "12s" }, "The model never answers.\nHANG");
    await world.runOnce();

    expect(world.meta(id).history.find((entry) => entry.to === "failed")?.reason).toBe("timeout: killed after 12.0s");
    expect(world.model.requests.some((request) => request.answer === "hang")).toBe(true);
    expect(world.processesIn(world.meta(id).worktree!.path)).toEqual([]);
  });

  test("AQ_BLOCKED: in the agent's answer blocks the job with the agent's reason", async () => {
    const world = await engineWorld();
    const id = `blocked-${agent}`;
    await world.add(
      id,
      { engine: agent, timeout: "90s" },
      "Ask for help.\nSAY: AQ_BLOCKED: the staging password is needed",
    );
    await world.runOnce();

    expect(world.stage(id), world.log(id)).toBe("blocked");
    expect(world.meta(id).reason).toBe("the staging password is needed");
  });
});

test("an agent that goes quiet for its stall time is killed and fails as stalled, not timed out", async () => {
  const world = await engineWorld();
  const id = "quiet-claude";
  await world.add(
    id,
    { engine: "claude", maxAttempts: 1, timeout: "60s", stall: "3s" },
    "The model never answers.\nHANG",
  );
  const started = Date.now();
  await world.runOnce();

  expect(world.meta(id).history.find((entry) => entry.to === "failed")?.reason).toBe(
    "stalled: no agent activity for 3.0s",
  );
  expect(Date.now() - started).toBeLessThan(30_000);
  // It had said something before it went quiet: its session was recorded.
  expect(world.meta(id).agent?.sessionId).toBeTruthy();
  expect(world.processesIn(world.meta(id).worktree!.path)).toEqual([]);
});
