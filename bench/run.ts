import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { claim10k } from "./cases/claim-10k.ts";
import { coordinatorFleet } from "./cases/coordinator-fleet.ts";
import { coordinatorSaturation } from "./cases/coordinator-sim.ts";
import { stopBenchCluster } from "./cases/coordinator-world.ts";
import { dashboard10k } from "./cases/dashboard-10k.ts";
import { fleet, idle } from "./cases/fleet.ts";
import { perJob } from "./cases/per-job.ts";
import { peers } from "./cases/peers.ts";
import { startup } from "./cases/startup.ts";
import { status10k } from "./cases/status-10k.ts";
import { type Figure, ROOT } from "./lib.ts";

/**
 * `npm run bench`: each case after a warm-up, median and spread, and the ratio against its
 * baseline measured in this same run. Writes bench/results.json. BENCH_QUICK=1 shortens the
 * long cases (the idle factory and the coordinator benches) for a smoke run. The PostgreSQL
 * coordinator cases start a throw-away cluster of the installed server (skipped without one).
 */
const quick = process.env.BENCH_QUICK === "1";
const only = process.argv.slice(2);
const cases: Array<[string, () => Promise<Figure[]>]> = [
  ["startup", () => startup(quick ? 5 : 10)],
  ["per-job", () => perJob(quick ? 50 : 200)],
  ["peers", () => peers(quick ? 50 : 200)],
  ["claim-10k", () => claim10k(10_000, quick ? 10 : 30)],
  ["status-10k", () => status10k(10_000, quick ? 3 : 5)],
  ["dashboard-10k", () => dashboard10k(10_000, quick ? 3 : 7)],
  ["fleet", () => fleet(quick ? 50 : 200)],
  ["idle", () => idle(quick ? 10 : 60)],
  ["coordinator-fleet-sqlite", () => coordinatorFleet("sqlite", 1, 1000, quick ? 10 : 30)],
  ["coordinator-fleet-postgres", () => coordinatorFleet("postgres", 2, 1000, quick ? 10 : 30)],
  ["coordinator-saturation-sqlite", () => coordinatorSaturation("sqlite", 1, 100, quick ? 5 : 10)],
  ["coordinator-saturation-postgres-1", () => coordinatorSaturation("postgres", 1, 100, quick ? 5 : 10)],
  ["coordinator-saturation-postgres-2", () => coordinatorSaturation("postgres", 2, 100, quick ? 5 : 10)],
];

const figures: Figure[] = [];
const started = Date.now();
for (const [name, run] of cases) {
  if (only.length && !only.includes(name)) continue;
  process.stderr.write(`bench: ${name}…\n`);
  const result = await run();
  figures.push(...result);
  for (const figure of result) process.stdout.write(`${line(figure)}\n`);
}
await stopBenchCluster();
const summary = {
  at: new Date().toISOString(),
  node: process.version,
  quick,
  seconds: Math.round((Date.now() - started) / 1000),
  figures,
};
writeFileSync(join(ROOT, "bench", "results.json"), `${JSON.stringify(summary, null, 2)}\n`);
process.stdout.write(`\n${table(figures)}\n\nwritten to bench/results.json in ${summary.seconds}s\n`);

function fmt(value: number): string {
  return Math.abs(value) >= 100 ? value.toFixed(0) : Math.abs(value) >= 10 ? value.toFixed(1) : value.toFixed(2);
}

function line(figure: Figure): string {
  return `${figure.case} | ${figure.metric}: ${fmt(figure.value)} ${figure.unit}${figure.ratio === undefined ? "" : ` (${fmt(figure.ratio)}× ${figure.baseline?.metric})`}`;
}

function table(rows: Figure[]): string {
  const head = ["case", "metric", "value", "±%", "ratio", "target", "note"];
  const body = rows.map((f) => [
    f.case,
    f.metric,
    `${fmt(f.value)} ${f.unit}`,
    f.spread === undefined ? "" : f.spread.toFixed(0),
    f.ratio === undefined ? "" : `${fmt(f.ratio)}×`,
    f.target === undefined ? "" : `${f.target} ${f.pass ? "ok" : "MISSED"}`,
    f.note ?? "",
  ]);
  return [head, head.map(() => "---"), ...body].map((row) => `| ${row.join(" | ")} |`).join("\n");
}
