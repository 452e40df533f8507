import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BIN, env, type Figure, median, NODE, spread, tempDir, timed } from "../lib.ts";

const STAGES = ["queued", "review", "shipped", "failed", "blocked"];

/** 6. `aq status --json` over 10,000 jobs on disk. */
export async function status10k(
  count: number,
  runs: number,
  baselineRoot = process.env.BENCH_BASELINE_ROOT,
): Promise<Figure[]> {
  const dir = tempDir("aq-bench-status-");
  writeJobs(join(dir, "queue"), count);
  const once = (bin: string) => async () => {
    const result = await timed(NODE, [bin, "status", "--json"], { cwd: dir, env: env() });
    const parsed = JSON.parse(result.stdout) as { jobs: unknown[] };
    if (parsed.jobs.length !== count) throw new Error(`status listed ${parsed.jobs.length} of ${count}`);
    return result.ms;
  };
  // With BENCH_BASELINE_ROOT, that build's status runs in turn with this one's, under the same load.
  const values: number[] = [];
  const baseline: number[] = [];
  await once(BIN)();
  for (let i = 0; i < runs; i++) {
    values.push(await once(BIN)());
    if (baselineRoot) baseline.push(await once(join(baselineRoot, "bin", "aq.js"))());
  }
  const versus = baselineRoot
    ? { baseline: { metric: "baseline commit", value: median(baseline) }, ratio: median(values) / median(baseline) }
    : {};
  return [
    {
      case: "status over 10,000 jobs",
      metric: `aq status --json, ${count} jobs`,
      value: median(values),
      unit: "ms",
      spread: spread(values),
      ...versus,
      target: "≤ 400 ms",
      pass: median(values) <= 400,
    },
  ];
}

/** `count` jobs written straight onto disk, as the store would, spread over a few stages. */
export function writeJobs(queue: string, count: number): void {
  const at = new Date().toISOString();
  for (let i = 0; i < count; i++) {
    const stage = STAGES[i % STAGES.length]!;
    const id = `job-${String(i).padStart(5, "0")}`;
    const jobDir = join(queue, stage, id);
    mkdirSync(jobDir, { recursive: true });
    writeFileSync(join(jobDir, "job.md"), "---\nengine: shell\n---\ntrue\n");
    const history = [
      { from: null, to: "queued", at, by: "bench" },
      ...(stage === "queued" ? [] : [{ from: "queued", to: stage, at, by: "bench" }]),
    ];
    writeFileSync(
      join(jobDir, "meta.json"),
      JSON.stringify({ id, stage, attempts: 1, priority: 0, createdAt: at, origin: { kind: "local" }, history }),
    );
  }
}
