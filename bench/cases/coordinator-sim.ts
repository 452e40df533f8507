import { spawn } from "node:child_process";
import { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Agent, request } from "undici";
import { BIN, env, type Figure, median, NODE, percentile, ROOT, tempDir } from "../lib.ts";

/** The coordinator always asks for a bearer token: the simulation gives it one. */
const SIM_TOKEN = "bench-sim-token";

interface Totals {
  latencies: Map<string, number[]>;
  errors: number;
  /** (job, epoch) → the factories whose reports under it were accepted: more than one breaks fencing. */
  holders: Map<string, Set<string>>;
}

async function call(agent: Agent, api: string, totals: Totals, endpoint: string, method: "POST" | "PATCH", path: string, body: unknown): Promise<{ status: number; json: unknown }> {
  const started = performance.now();
  try {
    const response = await request(`${api}${path}`, { method, dispatcher: agent, headers: { "content-type": "application/json", authorization: `Bearer ${SIM_TOKEN}` }, body: JSON.stringify(body) });
    const text = await response.body.text();
    const list = totals.latencies.get(endpoint) ?? [];
    list.push(performance.now() - started);
    totals.latencies.set(endpoint, list);
    return { status: response.statusCode, json: text ? JSON.parse(text) : undefined };
  } catch {
    totals.errors++;
    return { status: 0, json: undefined };
  }
}

/** One simulated factory: heartbeat every 5 s, claim when idle, a report per stage, release. No engine. */
async function factory(agent: Agent, api: string, id: string, until: number, totals: Totals): Promise<void> {
  let nextBeat = 0;
  const caps = ["os:linux", "engine:shell"];
  while (Date.now() < until) {
    if (Date.now() >= nextBeat) {
      await call(agent, api, totals, "heartbeat", "POST", "/fleet/factories/heartbeat", { factoryId: id, capabilities: caps, health: "ok", load: 0 });
      nextBeat = Date.now() + 5_000;
    }
    const claim = await call(agent, api, totals, "claim", "POST", "/fleet/claim", { factoryId: id, capabilities: caps });
    const answer = claim.json as { job?: { id: string }; leaseEpoch?: number } | undefined;
    if (claim.status !== 200 || !answer?.job || answer.leaseEpoch === undefined) {
      await sleep(1_000);
      continue;
    }
    const { job, leaseEpoch } = answer as { job: { id: string }; leaseEpoch: number };
    for (const stage of ["building", "review", "shipped"]) {
      const report = await call(agent, api, totals, "report", "PATCH", `/fleet/jobs/${job.id}`, { stage, leaseEpoch });
      if (report.status === 200) {
        const key = `${job.id}@${leaseEpoch}`;
        const set = totals.holders.get(key) ?? new Set<string>();
        set.add(id);
        totals.holders.set(key, set);
      }
    }
    await call(agent, api, totals, "release", "POST", `/fleet/jobs/${job.id}/lease/release`, { leaseEpoch });
  }
}

/** 7. The coordinator past one host, simulated: N factories against `aq coordinator` on loopback. */
export async function coordinatorSim(factories: number, seconds: number, jobs: number): Promise<Figure[]> {
  const dir = tempDir("aq-bench-sim-");
  const db = join(dir, "coordinator.sqlite");
  const { CoordinatorStore } = await import(join(ROOT, "dist/src/coordinator/store.js"));
  const seed = new CoordinatorStore(db, { leaseMs: 60_000 });
  for (let i = 0; i < jobs; i++) seed.enqueue({ id: `sim-${i}`, bodyMd: "true" });
  seed.close();
  const server = spawn(NODE, [BIN, "coordinator", "--port", "0", "--db", db, "--lease", "1m"], { env: env({ AQ_COORDINATOR_TOKEN: SIM_TOKEN }), stdio: ["ignore", "pipe", "ignore"] });
  const api = await new Promise<string>((done) => server.stdout!.once("data", (chunk: Buffer) => done(chunk.toString().trim().split("\n")[0]!)));
  const agent = new Agent({ connections: 128, keepAliveTimeout: 30_000, pipelining: 1 });
  const totals: Totals = { latencies: new Map(), errors: 0, holders: new Map() };
  const started = performance.now();
  const until = Date.now() + seconds * 1000;
  await Promise.all(Array.from({ length: factories }, (_, i) => factory(agent, api, `sim-factory-${i}`, until, totals)));
  const elapsed = (performance.now() - started) / 1000;
  await agent.close();
  server.kill("SIGTERM");
  await new Promise((done) => server.once("close", done));
  const check = new DatabaseSync(db, { readOnly: true });
  const doubled = check.prepare("SELECT COUNT(*) AS n FROM (SELECT job_id, lease_epoch FROM runs GROUP BY job_id, lease_epoch HAVING COUNT(DISTINCT factory_id) > 1)").get() as { n: number };
  check.close();
  const clientSeen = [...totals.holders.values()].filter((set) => set.size > 1).length;
  const all = [...totals.latencies.values()].flat();
  const figures: Figure[] = [
    { case: `coordinator, ${factories} simulated factories`, metric: `requests/s over ${seconds}s`, value: all.length / elapsed, unit: "req/s", note: `${totals.errors} errors` },
  ];
  for (const [endpoint, values] of totals.latencies) {
    figures.push({ case: `coordinator, ${factories} simulated factories`, metric: `${endpoint} p50 / p99`, value: median(values), unit: "ms", note: `p99 ${percentile(values, 99).toFixed(1)} ms, ${values.length} calls` });
  }
  figures.push({
    case: `coordinator, ${factories} simulated factories`,
    metric: "jobs held by two factories under one epoch",
    value: Number(doubled.n) + clientSeen,
    unit: "count",
    target: "0",
    pass: Number(doubled.n) + clientSeen === 0,
  });
  return figures;
}
