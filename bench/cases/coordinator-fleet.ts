import { loadavg } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Agent, request } from "undici";
import { type Figure, median, percentile, ROOT } from "../lib.ts";
import { BENCH_TOKEN, coordinatorWorld, type Engine } from "./coordinator-world.ts";

/**
 * 7. The coordinator under a realistic fleet, open loop: each simulated factory heartbeats and
 * renews on its own timers (whatever the answers' latency), claims when idle with the client's
 * idle pause, runs a job of a few minutes (building, renewals, review, shipped, release).
 * Time is compressed by COMPRESSION: every interval and duration of the real fleet is divided by
 * it, so the request rate is COMPRESSION × a real fleet of this size.
 */
export const COMPRESSION = 20;
const REAL = {
  /** AQ_FLEET_LEASE_RENEW_SEC's default: the heartbeat and renewal interval. */
  renewMs: 300_000,
  lease: "15m",
  jobMinMs: 120_000,
  jobMaxMs: 360_000,
};

type Endpoint = "heartbeat" | "claim" | "report" | "renew" | "release";

interface Totals {
  latencies: Record<Endpoint, number[]>;
  errors: number;
  cycles: number;
  measuring: boolean;
}

async function call(
  agent: Agent,
  api: string,
  totals: Totals,
  endpoint: Endpoint,
  method: "POST" | "PATCH",
  path: string,
  body: unknown,
): Promise<{ status: number; json: any }> {
  const started = performance.now();
  try {
    const response = await request(`${api}${path}`, {
      method,
      dispatcher: agent,
      headers: { "content-type": "application/json", authorization: `Bearer ${BENCH_TOKEN}` },
      body: JSON.stringify(body),
    });
    const text = await response.body.text();
    if (totals.measuring) totals.latencies[endpoint].push(performance.now() - started);
    if (response.statusCode >= 500) totals.errors++;
    return { status: response.statusCode, json: text ? JSON.parse(text) : undefined };
  } catch {
    totals.errors++;
    return { status: 0, json: undefined };
  }
}

async function factory(
  agent: Agent,
  api: string,
  id: string,
  until: number,
  totals: Totals,
  idlePauseMs: number,
): Promise<void> {
  const caps = ["os:linux", "engine:shell"];
  const renewMs = REAL.renewMs / COMPRESSION;
  let quietUntil = 0;
  let wake: (() => void) | undefined;
  const beat = async () => {
    const answer = await call(agent, api, totals, "heartbeat", "POST", "/fleet/factories/heartbeat", {
      factoryId: id,
      capabilities: caps,
      health: "ok",
      load: 0,
    });
    // As the real client: a heartbeat saying there is work ends the idle pause.
    if (answer.json?.claimable) {
      quietUntil = 0;
      wake?.();
    }
  };
  await sleep(Math.random() * renewMs);
  void beat();
  const heartbeats = setInterval(() => void beat(), renewMs);
  try {
    while (Date.now() < until) {
      if (Date.now() < quietUntil) {
        await new Promise<void>((done) => {
          wake = done;
          setTimeout(done, quietUntil - Date.now());
        });
        wake = undefined;
        continue;
      }
      const claim = await call(agent, api, totals, "claim", "POST", "/fleet/claim", {
        factoryId: id,
        capabilities: caps,
      });
      if (claim.status !== 200 || !claim.json?.job) {
        quietUntil = Date.now() + idlePauseMs;
        continue;
      }
      const { job, leaseEpoch } = claim.json as { job: { id: string }; leaseEpoch: number };
      await call(agent, api, totals, "report", "PATCH", `/fleet/jobs/${job.id}`, {
        stage: "building",
        checkpoint: { wipBranch: `aq/fleet-${job.id}`, wipCommit: "0".repeat(40) },
        leaseEpoch,
      });
      const renewals = setInterval(
        () => void call(agent, api, totals, "renew", "POST", `/fleet/jobs/${job.id}/lease/renew`, { leaseEpoch }),
        renewMs,
      );
      await sleep((REAL.jobMinMs + Math.random() * (REAL.jobMaxMs - REAL.jobMinMs)) / COMPRESSION);
      clearInterval(renewals);
      for (const stage of ["review", "shipped"])
        await call(agent, api, totals, "report", "PATCH", `/fleet/jobs/${job.id}`, { stage, leaseEpoch });
      await call(agent, api, totals, "release", "POST", `/fleet/jobs/${job.id}/lease/release`, { leaseEpoch });
      totals.cycles++;
    }
  } finally {
    clearInterval(heartbeats);
  }
}

/** `factories` simulated factories for `seconds` against `processes` coordinators on `engine`; factory i talks to coordinator i mod processes. */
export async function coordinatorFleet(
  engine: Engine,
  processes: number,
  factories: number,
  seconds: number,
): Promise<Figure[]> {
  const label = `coordinator fleet model, ${factories} factories, ${engine === "sqlite" ? "SQLite, 1 process" : `PostgreSQL, ${processes} processes`}`;
  const world = await coordinatorWorld(engine, processes, { queued: factories * 5, finished: 50_000 }, REAL.lease);
  if (!world) return [{ case: label, metric: "skipped", value: 0, unit: "", note: "PostgreSQL is not installed" }];
  const { IDLE_CLAIM_PAUSE_MS } = await import(join(ROOT, "dist/plugins/fleet/claim.js"));
  const idlePauseMs = Math.min(IDLE_CLAIM_PAUSE_MS as number, REAL.renewMs) / COMPRESSION;
  const agent = new Agent({ connections: Math.ceil(256 / processes), keepAliveTimeout: 30_000 });
  const totals: Totals = {
    latencies: { heartbeat: [], claim: [], report: [], renew: [], release: [] },
    errors: 0,
    cycles: 0,
    measuring: false,
  };
  // The first renewal interval is the fleet starting up (factories join spread over it): not measured.
  const warmup = REAL.renewMs / COMPRESSION;
  const until = Date.now() + warmup + seconds * 1000;
  const run = Promise.all(
    Array.from({ length: factories }, (_, i) =>
      factory(agent, world.apis[i % processes]!, `fleet-${i}`, until, totals, idlePauseMs),
    ),
  );
  await sleep(warmup);
  totals.measuring = true;
  const cpu0 = world.cpu();
  const cycles0 = totals.cycles;
  const measured = performance.now();
  await run;
  const elapsed = (performance.now() - measured) / 1000;
  const cpu1 = world.cpu();
  totals.measuring = false;
  await agent.close();
  await world.stop();
  const { doubled } = await world.check();
  const cycles = totals.cycles - cycles0;
  const requests = Object.values(totals.latencies).reduce((sum, list) => sum + list.length, 0);
  const figures: Figure[] = [
    {
      case: label,
      metric: `requests/s over ${seconds}s (time ÷ ${COMPRESSION})`,
      value: requests / elapsed,
      unit: "req/s",
      note: `${cycles} job cycles, ${totals.errors} errors; a real fleet of ${factories} sends ${COMPRESSION}× less; load average ${loadavg()[0]!.toFixed(1)}`,
    },
  ];
  for (const [endpoint, values] of Object.entries(totals.latencies)) {
    if (!values.length) continue;
    const p99 = percentile(values, 99);
    figures.push({
      case: label,
      metric: `${endpoint} p50 / p99`,
      value: median(values),
      unit: "ms",
      target: "p99 < 50 ms",
      pass: p99 < 50,
      note: `p99 ${p99.toFixed(1)} ms, ${values.length} calls`,
    });
  }
  const coordinatorCpu = cpu1.coordinators - cpu0.coordinators;
  const databaseCpu = cpu1.database - cpu0.database;
  figures.push({
    case: label,
    metric: "CPU per job cycle",
    value: ((coordinatorCpu + databaseCpu) / Math.max(1, cycles)) * 1000,
    unit: "ms",
    note: `coordinator ${((coordinatorCpu / Math.max(1, cycles)) * 1000).toFixed(2)} ms${engine === "postgres" ? ` + PostgreSQL ${((databaseCpu / Math.max(1, cycles)) * 1000).toFixed(2)} ms` : ""}; heartbeats and renewals included`,
  });
  figures.push({
    case: label,
    metric: "jobs held by two factories under one epoch",
    value: doubled,
    unit: "count",
    target: "0",
    pass: doubled === 0,
  });
  return figures;
}
