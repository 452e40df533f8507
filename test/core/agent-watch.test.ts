import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { expect, test } from "vitest";
import { watchAgent } from "../../src/core/agent-watch.ts";
import { readMeta } from "../../src/core/meta.ts";
import { runInGroup } from "../../src/core/process-group.ts";
import { waitFor } from "../helpers/cli.ts";
import { addJob, openStore } from "../helpers/store-fixtures.ts";
import { tempDir } from "../helpers/temp.ts";

/** A stand-in agent CLI printing Claude Code's JSON lines, written in pieces as a real one would. */
const SCRIPT = `
const { setTimeout: sleep } = require("node:timers/promises");
(async () => {
  process.stdout.write(JSON.stringify({ type: "system", subtype: "init", session_id: "sess-42", model: "m-1" }) + "\\n");
  await sleep(1500);
  const text = JSON.stringify({ type: "assistant", message: { id: "msg-1", content: [{ type: "text", text: "café ready\\nAQ_BLOCKED: needs a key" }] } }) + "\\n";
  const bytes = Buffer.from(text);
  const cut = bytes.indexOf(Buffer.from("é")) + 1; // inside the two bytes of "é"
  process.stdout.write(bytes.subarray(0, cut));
  await sleep(100);
  process.stdout.write(bytes.subarray(cut));
  process.stderr.write("a warning on stderr\\n");
  process.stdout.write(JSON.stringify({ type: "result", is_error: false, num_turns: 1, total_cost_usd: 0.5, usage: { input_tokens: 10, output_tokens: 2 } })); // no final newline
})();
`;

/** A job in building/ of a fresh queue, as a runner has it while its engine runs. */
async function buildingJob(id: string) {
  const root = tempDir();
  const store = await openStore(join(root, "queue"));
  await addJob(store, id);
  await store.move(id, "queued", "assigned", { by: "test" });
  await store.move(id, "assigned", "building", { by: "test" });
  return { root, store, jobDir: store.jobDir("building", id) };
}

test("an agent's run: its session reaches meta while it runs, its JSON lines become a readable log, whole characters and a last line without newline included", async () => {
  const { root, store, jobDir } = await buildingJob("watched");
  const script = join(root, "agent.js");
  writeFileSync(script, SCRIPT);

  const watch = watchAgent({ store, id: "watched", engine: "claude", format: "claude-stream-json", jobDir });
  const run = runInGroup({
    file: process.execPath,
    args: [script],
    cwd: root,
    env: process.env,
    logFile: join(jobDir, "log.txt"),
    killGraceMs: 500,
    ...watch.groupOptions,
  });
  // Written as soon as the session id is known, long before the run ends.
  const early = await waitFor(
    async () => (await readMeta(join(jobDir, "meta.json"))).agent,
    1400,
    "the session in meta while the agent runs",
  );
  expect(early).toMatchObject({ name: "claude", sessionId: "sess-42", model: "m-1" });
  const result = await run;
  await watch.stop();

  expect(result.exitCode).toBe(0);
  expect(watch.blocked()).toBe("needs a key");
  expect(watch.snapshot()).toMatchObject({
    sessionId: "sess-42",
    turns: 1,
    inputTokens: 10,
    outputTokens: 2,
    costUsd: 0.5,
  });
  const log = readFileSync(join(jobDir, "log.txt"), "utf8");
  expect(log).toContain("[claude] session sess-42, model m-1\n");
  expect(log).toContain("café ready\nAQ_BLOCKED: needs a key\n");
  expect(log).toContain("a warning on stderr\n");
  expect(log).toMatch(/\[claude\] done: 1 turn\(s\), 10 tokens in, 2 out, \$0\.5000\n$/);
  const raw = readFileSync(join(jobDir, "agent.jsonl"), "utf8");
  expect(raw.split("\n")).toHaveLength(3); // as printed: the last line has no newline
  expect(raw).toContain('"session_id":"sess-42"');
});

test("a plain-text engine: raw output in the log, AQ_BLOCKED: on a line of its own, no agent.jsonl", async () => {
  const { root, store, jobDir } = await buildingJob("plain");

  const watch = watchAgent({ store, id: "plain", engine: "shell", format: "text", jobDir });
  const result = await runInGroup({
    file: "sh",
    args: ["-c", "printf 'working\\nnot AQ_BLOCKED: here\\nAQ_BLOCKED:   out of disk  \\npartial'"],
    cwd: root,
    env: process.env,
    logFile: join(jobDir, "log.txt"),
    killGraceMs: 500,
    ...watch.groupOptions,
  });
  await watch.stop();

  expect(result.exitCode).toBe(0);
  expect(watch.blocked()).toBe("out of disk");
  expect(readFileSync(join(jobDir, "log.txt"), "utf8")).toBe(
    "working\nnot AQ_BLOCKED: here\nAQ_BLOCKED:   out of disk  \npartial",
  );
  expect(watch.snapshot()).toEqual({ name: "shell", lastActivityAt: expect.any(String) });
  expect(() => readFileSync(join(jobDir, "agent.jsonl"))).toThrow();
});
