import { spawn, type SpawnOptions } from "node:child_process";
import { mkdtempSync, realpathSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export const ROOT = resolve(import.meta.dirname, "..");
export const BIN = join(ROOT, "bin", "aq.js");
export const NODE = process.execPath;

export interface Figure {
  readonly case: string;
  readonly metric: string;
  readonly value: number;
  readonly unit: string;
  readonly spread?: number;
  readonly baseline?: { metric: string; value: number };
  readonly ratio?: number;
  readonly target?: string;
  readonly pass?: boolean;
  readonly note?: string;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN;
}

/** Interquartile spread relative to the median, in percent. */
export function spread(values: readonly number[]): number {
  const m = median(values);
  return m === 0 ? 0 : ((percentile(values, 75) - percentile(values, 25)) / m) * 100;
}

export function tempDir(prefix: string): string {
  return realpathSync(mkdtempSync(join(tmpdir(), prefix)));
}

/** Runs a command to its end and answers its wall time in ms and its peak RSS in KiB (from /usr/bin/time if present). */
export function timed(
  file: string,
  args: readonly string[],
  options: SpawnOptions = {},
): Promise<{ ms: number; code: number | null; stdout: string; stderr: string }> {
  return new Promise((done, fail) => {
    const started = performance.now();
    const child = spawn(file, args as string[], { stdio: ["ignore", "pipe", "pipe"], ...options });
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.once("error", fail);
    child.once("close", (code) => done({ ms: performance.now() - started, code, stdout, stderr }));
  });
}

/** Warm-up runs, then `runs` timed runs of `fn`; answers the timings. */
export async function sample(runs: number, warmup: number, fn: () => Promise<number>): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await fn();
  const values: number[] = [];
  for (let i = 0; i < runs; i++) values.push(await fn());
  return values;
}

export function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const clean: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith("AQ_")) clean[key] = value;
  return { ...clean, NO_COLOR: "1", AQ_LOG_LEVEL: "warn", ...extra };
}

export function writeConfig(dir: string, config: Record<string, unknown>): void {
  writeFileSync(join(dir, "aq.config.json"), `${JSON.stringify(config)}\n`);
}
