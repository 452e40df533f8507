import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "vitest";
import { QueueStore } from "../../src/core/queue-store.ts";
import { type CliResult, ROOT, aq, writeTestConfig } from "./cli.ts";
import { writeJob } from "./jobs.ts";
import { tempDir } from "./temp.ts";

/** Fails early and clearly when the compiled CLI is missing. */
export function requireBuild(): void {
  if (!existsSync(join(ROOT, "dist", "src", "cli", "main.js")))
    throw new Error("dist/ is missing: run `npm run build` before the CLI tests");
}

/** A project directory with a test config; the CLI's queue is `<dir>/queue`. */
export function cliProject(config: Record<string, unknown> = {}): {
  dir: string;
  queue: string;
  run(args: readonly string[], input?: string): Promise<CliResult>;
} {
  const dir = tempDir("aq-cli-");
  writeTestConfig(dir, config);
  const queue = join(dir, "queue");
  return { dir, queue, run: (args, input) => aq(args, { cwd: dir, ...(input === undefined ? {} : { input }) }) };
}

/** Adds a job through the CLI and returns its id (the test fails if the add does). */
export async function cliAdd(
  project: { dir: string; run(args: readonly string[]): Promise<CliResult> },
  id: string,
  frontmatter: Record<string, unknown> = { engine: "shell" },
  body = "echo hi",
): Promise<string> {
  const file = writeJob(project.dir, `${id}.md`, frontmatter, body);
  const result = await project.run(["add", file, "--id", id]);
  expect(result, result.stderr).toMatchObject({ code: 0, stdout: `${id}\n` });
  return id;
}

/** The same queue, opened in this process (to set up stages the CLI cannot reach quickly). */
export function storeOf(queue: string): Promise<QueueStore> {
  return QueueStore.open(queue, { gitQueue: false });
}

/** stderr holds exactly one line (ending in a newline) and no stack trace; returns that line. */
export function expectOneLine(stderr: string): string {
  expect(stderr.endsWith("\n"), `stderr should end in a newline: ${JSON.stringify(stderr)}`).toBe(true);
  const lines = stderr.slice(0, -1).split("\n");
  expect(lines, `expected one stderr line, got ${JSON.stringify(stderr)}`).toHaveLength(1);
  expect(lines[0]).not.toMatch(/^\s+at |\.(ts|js):\d+|internal error/);
  expect(lines[0]!.trim().length).toBeGreaterThan(0);
  return lines[0]!;
}

export function readJson(path: string): any {
  return JSON.parse(readFileSync(path, "utf8"));
}
