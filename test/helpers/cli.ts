import { type ChildProcess, spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";

export const ROOT = resolve(import.meta.dirname, "../..");
export const BIN = join(ROOT, "bin", "aq.js");

export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CliOptions {
  readonly cwd: string;
  readonly env?: Record<string, string | undefined>;
  readonly input?: string;
  readonly timeoutMs?: number;
}

/** The environment the CLI runs with: this process's, without any AQ_* setting that leaked in. */
export function cliEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env))
    if (!key.startsWith("AQ_") && !key.startsWith("VITEST") && value !== undefined) env[key] = value;
  env.NO_COLOR = "1";
  for (const [key, value] of Object.entries(extra)) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
  return env;
}

/** Starts the compiled CLI (`bin/aq.js`) on this Node as a real process. */
export function startAq(
  args: readonly string[],
  options: CliOptions,
): ChildProcess & { output(): { stdout: string; stderr: string }; exited: Promise<CliResult> } {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: options.cwd,
    env: cliEnv(options.env),
    stdio: ["pipe", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  if (options.input !== undefined) child.stdin.end(options.input);
  else child.stdin.end();
  const exited = new Promise<CliResult>((done) =>
    child.once("close", (code, signal) => done({ code, signal, stdout, stderr })),
  );
  let timer: NodeJS.Timeout | undefined;
  if (options.timeoutMs) {
    timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs);
    void exited.then(() => clearTimeout(timer));
  }
  return Object.assign(child, { output: () => ({ stdout, stderr }), exited });
}

export function aq(args: readonly string[], options: CliOptions): Promise<CliResult> {
  return startAq(args, { timeoutMs: 60_000, ...options }).exited;
}

/** A config fast enough for tests: shell jobs, short polls, short kill grace, no backoff. */
export function writeTestConfig(dir: string, config: Record<string, unknown> = {}): string {
  const path = join(dir, "aq.config.json");
  const base = {
    defaults: { engine: "shell", timeout: "60s" },
    pollInterval: "50ms",
    killGrace: "300ms",
    retry: { backoff: "0s" },
  };
  writeFileSync(path, `${JSON.stringify({ ...base, ...config }, null, 2)}\n`);
  return path;
}

/** Polls until `check` holds, or fails after `timeoutMs` (generous: a busy machine is slow) with what it saw last. */
/** The API URL `aq coordinator` prints as its first line on stdout, once it is there. */
export function printedApiUrl(child: { output(): { stdout: string } }): Promise<string> {
  return waitFor(
    () =>
      child
        .output()
        .stdout.split("\n")[0]
        ?.trim()
        .match(/^http:\/\/127\.0\.0\.1:\d+\/api$/)?.[0],
    10_000,
    "the API URL",
  );
}

export async function waitFor<T>(
  check: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 30_000,
  what = "condition",
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
