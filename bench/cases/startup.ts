import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { BIN, type Figure, median, NODE, sample, spread, tempDir, timed, env } from "../lib.ts";

/**
 * 1. Start-up: aq --version, aq status (empty queue), aq status with both built-ins configured, against
 * `node -e 0`; and, with no target, `aq run --drain` on an empty queue (a runner's start and stop).
 */
export async function startup(runs: number): Promise<Figure[]> {
  const dir = tempDir("aq-bench-start-");
  const configured = tempDir("aq-bench-start-cfg-");
  writeFileSync(
    join(configured, "aq.config.ts"),
    `import { defineConfig } from "agent-queue";\nexport default defineConfig({ defaults: { engine: "shell" }, plugins: [["tracker-echo", { timeout: "5s" }], ["fleet", { enabled: true, api: "http://127.0.0.1:9/api" }]] });\n`,
  );
  const base = await sample(runs, 2, async () => (await timed(NODE, ["-e", "0"])).ms);
  const cases: Array<[string, string[], string, NodeJS.ProcessEnv, boolean?]> = [
    ["aq --version", ["--version"], dir, env()],
    ["aq status (empty queue)", ["status"], dir, env()],
    ["aq status (aq.config.ts, tracker-echo + fleet)", ["status"], configured, env()],
    ["aq run --drain (empty queue)", ["run", "--drain"], tempDir("aq-bench-start-run-"), env(), false],
  ];
  const figures: Figure[] = [
    { case: "start-up", metric: "node -e 0", value: median(base), unit: "ms", spread: spread(base) },
  ];
  for (const [metric, args, cwd, vars, targeted = true] of cases) {
    const values = await sample(runs, 2, async () => {
      const result = await timed(NODE, [BIN, ...args], { cwd, env: vars });
      if (result.code !== 0) throw new Error(`${metric} failed: ${result.stderr}`);
      return result.ms;
    });
    const ratio = median(values) / median(base);
    figures.push({
      case: "start-up",
      metric,
      value: median(values),
      unit: "ms",
      spread: spread(values),
      baseline: { metric: "node -e 0", value: median(base) },
      ratio,
      ...(targeted ? { target: "≤ 3×", pass: ratio <= 3 } : {}),
    });
  }
  return figures;
}
