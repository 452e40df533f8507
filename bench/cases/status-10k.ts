import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BIN, env, type Figure, median, NODE, sample, spread, tempDir, timed } from "../lib.ts";

const STAGES = ["queued", "review", "shipped", "failed", "blocked"];

/** 6. `aq status --json` over 10,000 jobs on disk. */
export async function status10k(count: number, runs: number): Promise<Figure[]> {
  const dir = tempDir("aq-bench-status-");
  writeJobs(join(dir, "queue"), count);
  const values = await sample(runs, 1, async () => {
    const result = await timed(NODE, [BIN, "status", "--json"], { cwd: dir, env: env() });
    const parsed = JSON.parse(result.stdout) as { jobs: unknown[] };
    if (parsed.jobs.length !== count) throw new Error(`status listed ${parsed.jobs.length} of ${count}`);
    return result.ms;
  });
  return [
    {
      case: "status over 10,000 jobs",
      metric: `aq status --json, ${count} jobs`,
      value: median(values),
      unit: "ms",
      spread: spread(values),
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
