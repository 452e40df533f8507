import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { AgentStream, type OutputFormat } from "../../src/core/agent-output/index.ts";

/** Real structured output, recorded from the pinned CLIs by `npm run test:engines` (test/fixtures/agent-output). */
function replay(
  file: string,
  engine: string,
  format: OutputFormat,
): { stream: AgentStream; log: string[]; said: string[] } {
  const stream = new AgentStream(engine, format);
  const log: string[] = [];
  const said: string[] = [];
  const lines = readFileSync(join(import.meta.dirname, "../fixtures/agent-output", file), "utf8")
    .split("\n")
    .filter(Boolean);
  for (const rendered of [...lines.map((line) => stream.line(line)), stream.end()]) {
    log.push(...rendered.log);
    said.push(...rendered.said);
  }
  return { stream, log, said };
}

const CASES = [
  { engine: "claude", format: "claude-stream-json", tokens: { inputTokens: 240, outputTokens: 60 }, turns: 2 },
  { engine: "codex", format: "codex-json", tokens: { inputTokens: 400, outputTokens: 80 }, turns: 1 },
  { engine: "gemini", format: "gemini-stream-json", tokens: { inputTokens: 900, outputTokens: 150 }, turns: undefined },
] as const;

describe.each(CASES)("$engine's structured output", ({ engine, format, tokens, turns }) => {
  test("becomes a readable log, the agent's words, and its session", () => {
    const { stream, log, said } = replay(`${engine}.jsonl`, engine, format);
    expect(log.find((line) => line.startsWith("$ "))).toMatch(new RegExp(`hello from ${engine}.*greeting\\.txt`));
    expect(log).toContain("The greeting is written.");
    expect(log.some((line) => line.startsWith("{"))).toBe(false);
    expect(said).toEqual(["The greeting is written."]);
    const info = stream.snapshot();
    expect(info).toMatchObject({ name: engine, toolCalls: 1, ...tokens });
    expect(info.turns).toBe(turns);
    expect(info.sessionId).toMatch(/^[0-9a-f-]{20,}$/);
    expect(Date.parse(info.lastActivityAt!)).toBeGreaterThan(Date.now() - 60_000);
  });

  test("an AQ_BLOCKED: line in the agent's answer is among its words", () => {
    const { said } = replay(`${engine}-blocked.jsonl`, engine, format);
    expect(said).toContain("AQ_BLOCKED: the staging password is needed");
  });
});

test("a line that is not JSON (a CLI's warning) is logged and read as said", () => {
  const stream = new AgentStream("claude", "claude-stream-json");
  expect(stream.line("AQ_BLOCKED: printed raw")).toEqual({
    log: ["AQ_BLOCKED: printed raw"],
    said: ["AQ_BLOCKED: printed raw"],
  });
  expect(stream.line("{not json")).toEqual({ log: ["{not json"], said: ["{not json"] });
});

test("Gemini's assistant text split over delta events is read as whole lines", () => {
  const stream = new AgentStream("gemini", "gemini-stream-json");
  const deltas = ["I cannot go on.\nAQ_BLO", "CKED: need ", "a key"].map((content) =>
    stream.line(JSON.stringify({ type: "message", role: "assistant", content, delta: true })),
  );
  expect(deltas.flatMap((rendered) => rendered.said)).toEqual([]);
  expect(stream.line(JSON.stringify({ type: "result", status: "success", stats: {} })).said).toEqual([
    "I cannot go on.",
    "AQ_BLOCKED: need a key",
  ]);
});

test("a plain-text engine's output is taken as it is", () => {
  const stream = new AgentStream("shell");
  expect(stream.structured).toBe(false);
  expect(stream.line('{"type":"result"}')).toEqual({ log: ['{"type":"result"}'], said: ['{"type":"result"}'] });
  expect(stream.snapshot()).toEqual({ name: "shell", lastActivityAt: expect.any(String) });
});

test("Codex: a tool call counts once whether it was announced or only reported done", () => {
  const stream = new AgentStream("codex", "codex-json");
  const event = (type: string, item: Record<string, unknown>) => stream.line(JSON.stringify({ type, item }));
  event("item.started", { id: "a", type: "command_execution", command: "ls" });
  event("item.completed", {
    id: "a",
    type: "command_execution",
    command: "ls",
    aggregated_output: "x\n",
    exit_code: 0,
  });
  const unannounced = event("item.completed", {
    id: "b",
    type: "command_execution",
    command: "make",
    aggregated_output: "",
    exit_code: 2,
  });
  event("item.completed", { id: "c", type: "file_change", changes: [{ path: "a.txt", kind: "add" }] });
  event("item.completed", { id: "d", type: "agent_message", text: "done" });
  expect(unannounced.log).toEqual(["$ make", "  (exit 2)"]);
  expect(stream.snapshot().toolCalls).toBe(3);
});

test("Claude: a subagent's messages are logged, indented, but are not the agent's words, model or tool calls", () => {
  const stream = new AgentStream("claude", "claude-stream-json");
  const rendered = stream.line(
    JSON.stringify({
      type: "assistant",
      parent_tool_use_id: "toolu_9",
      message: {
        id: "sub-1",
        model: "small-model",
        content: [
          { type: "text", text: "AQ_BLOCKED: the subagent gives up" },
          { type: "tool_use", name: "Bash", input: { command: "ls" } },
        ],
      },
    }),
  );
  expect(rendered).toEqual({ log: ["  | AQ_BLOCKED: the subagent gives up", "  | $ ls"], said: [] });
  expect(stream.snapshot()).toEqual({ name: "claude", lastActivityAt: expect.any(String) });
});
