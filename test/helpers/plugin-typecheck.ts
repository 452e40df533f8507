import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { ROOT } from "./cli.ts";

/**
 * `expectTypeOf` and `@ts-expect-error` only bite under the compiler: this runs tsc on `file`
 * (and what it imports) with the compiler options of the project's tsconfig.json, and returns
 * the errors reported in `file` itself.
 */
export function typeErrorsIn(file: string): string[] {
  const tsc = join(ROOT, "node_modules", ".bin", "tsc");
  const args = ["--noEmit", "--pretty", "false", ...projectOptions(), file];
  const result = spawnSync(tsc, args, { cwd: ROOT, encoding: "utf8", timeout: 60_000 });
  if (result.error) throw result.error;
  const path = relative(ROOT, file);
  const errors = `${result.stdout}${result.stderr}`.split("\n").filter((line) => line.startsWith(`${path}(`));
  if (result.status !== 0 && errors.length === 0 && !/error TS/.test(result.stdout))
    throw new Error(`tsc failed: ${result.stdout}${result.stderr}`);
  return errors;
}

/** tsconfig.json's compilerOptions as command-line flags (tsc reads no tsconfig when given files). */
function projectOptions(): string[] {
  const { compilerOptions } = JSON.parse(readFileSync(join(ROOT, "tsconfig.json"), "utf8")) as {
    compilerOptions: Record<string, unknown>;
  };
  const flags = ["--ignoreConfig"];
  for (const [key, value] of Object.entries(compilerOptions)) {
    if (key === "noEmit") continue;
    flags.push(`--${key}`, Array.isArray(value) ? value.join(",") : String(value));
  }
  return flags;
}
