import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { parseJob } from "../../src/core/job-file.ts";
import { QueueStore } from "../../src/core/queue-store.ts";
import { aq, type CliResult } from "../helpers/cli.ts";
import { jobText } from "../helpers/jobs.ts";
import { tempDir } from "../helpers/temp.ts";

/** Every file and directory under `dir` with its content: a failed command must change none. */
function snapshot(dir: string): Record<string, string> {
  const seen: Record<string, string> = {};
  const walk = (at: string) => {
    for (const name of readdirSync(at)) {
      const path = join(at, name);
      const key = relative(dir, path);
      if (statSync(path).isDirectory()) {
        seen[`${key}/`] = "";
        walk(path);
      } else seen[key] = readFileSync(path, "utf8");
    }
  };
  walk(dir);
  return seen;
}

/**
 * A repository whose queue `q` already holds a queued job that `aq run --once` would run (it
 * writes ran.txt), and a job file `aq add` would enqueue; `files` then breaks the config.
 */
async function repoWithQueue(files: Record<string, string>): Promise<string> {
  const dir = tempDir();
  const store = await QueueStore.open(join(dir, "q"), { gitQueue: false });
  const text = jobText({ engine: "shell" }, "echo ran > ran.txt");
  await store.create(
    { id: "waiting", text, spec: parseJob(text, "waiting.md"), origin: { kind: "local" } },
    { by: "test" },
  );
  writeFileSync(join(dir, "new-job.md"), jobText({ engine: "shell" }, "true"));
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
  return dir;
}

/** The command failed as bad input: exit 2 and exactly one line on stderr, with no stack. */
function oneLineFailure(result: CliResult): string {
  expect(result.code, result.stderr).toBe(2);
  expect(result.stdout).toBe("");
  const lines = result.stderr.trimEnd().split("\n");
  expect(lines, result.stderr).toHaveLength(1);
  expect(lines[0]).not.toMatch(/\bat .*:\d+:\d+/);
  return lines[0]!;
}

/** Runs `aq add` and `aq run --once` against the broken config; both must fail and touch nothing. */
async function expectRejected(dir: string, args: string[] = [], env: Record<string, string> = {}): Promise<string[]> {
  const before = snapshot(dir);
  const lines: string[] = [];
  for (const command of [
    ["add", "new-job.md", ...args],
    ["run", "--once", ...args],
  ]) {
    lines.push(oneLineFailure(await aq(command, { cwd: dir, env })));
  }
  expect(snapshot(dir)).toEqual(before);
  return lines;
}

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
const startsWith = (dir: string, file: string, rest: string) => new RegExp(`^aq: ${escape(join(dir, file))}: ${rest}`);

const BASE = { queueDir: "q", defaults: { engine: "shell" }, pollInterval: "50ms" };
const json = (config: Record<string, unknown>) => `${JSON.stringify({ ...BASE, ...config }, null, 2)}\n`;

describe("a bad config stops the command with exit 2 and one line naming the file and the key", () => {
  it("rejects an unknown top-level key", async () => {
    const dir = await repoWithQueue({ "aq.config.json": json({ bogus: 1 }) });
    for (const line of await expectRejected(dir))
      expect(line).toMatch(startsWith(dir, "aq.config.json", `bogus: unknown key`));
  });

  it('rejects a bad duration (killGrace: "soon")', async () => {
    const dir = await repoWithQueue({ "aq.config.json": json({ killGrace: "soon" }) });
    for (const line of await expectRejected(dir))
      expect(line).toMatch(startsWith(dir, "aq.config.json", `killGrace: "soon" is not a duration`));
  });

  it("rejects concurrency 0", async () => {
    const dir = await repoWithQueue({ "aq.config.json": json({ concurrency: 0 }) });
    for (const line of await expectRejected(dir))
      expect(line).toMatch(startsWith(dir, "aq.config.json", `concurrency: `));
  });

  it("rejects a plugins entry of the wrong shape", async () => {
    const dir = await repoWithQueue({ "aq.config.json": json({ plugins: ["./ok.ts", ["./plugins/sink.ts", "yes"]] }) });
    for (const line of await expectRejected(dir))
      expect(line).toMatch(startsWith(dir, "aq.config.json", `plugins\\.1: must be a specifier`));
  });

  it("rejects an aq.config.ts with a syntax error, naming the file", async () => {
    const dir = await repoWithQueue({
      "aq.config.ts": 'export default {\n  queueDir: "q",,\n  defaults: { engine: "shell" },\n};\n',
    });
    for (const line of await expectRejected(dir))
      expect(line).toMatch(startsWith(dir, "aq.config.ts", `cannot be loaded: `));
  });

  it("rejects a --config file that does not exist, without falling back to the config it would find", async () => {
    // The config found by searching is valid and would run the waiting job.
    const dir = await repoWithQueue({ "aq.config.json": json({}) });
    for (const line of await expectRejected(dir, ["--config", "missing.config.ts"])) {
      expect(line).toBe(`aq: ${join(dir, "missing.config.ts")}: config file not found`);
    }
  });

  it("rejects an AQ_FLEET that is neither 0 nor 1 (AQ_FLEET=yes)", async () => {
    const dir = await repoWithQueue({ "aq.config.json": json({}) });
    for (const line of await expectRejected(dir, [], { AQ_FLEET: "yes" }))
      expect(line).toBe('aq: AQ_FLEET must be 0 or 1, not "yes"');
  });
});
