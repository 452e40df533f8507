import { loadavg } from "node:os";
import { Agent, request } from "undici";
import type { Figure } from "../lib.ts";
import { BENCH_TOKEN, coordinatorWorld, type Engine } from "./coordinator-world.ts";

interface Totals {
  requests: number;
  errors: number;
  cycles: number;
  /** (job, epoch) → the factories whose reports under it were accepted: more than one breaks fencing. */
  holders: Map<string, Set<string>>;
}

async function call(
  agent: Agent,
  api: string,
  totals: Totals,
  method: "POST" | "PATCH",
  path: string,
  body: unknown,
): Promise<{ status: number; json: unknown }> {
  try {
    const response = await request(`${api}${path}`, {
      method,
      dispatcher: agent,
      headers: { "content-type": "application/json", authorization: `Bearer ${BENCH_TOKEN}` },
      body: JSON.stringify(body),
    });
    const text = await response.body.text();
    totals.requests++;
    return { status: response.statusCode, json: text ? JSON.parse(text) : undefined };
  } catch {
    totals.errors++;
    return { status: 0, json: undefined };
  }
}

/** One simulated factory in a closed loop: a job cycle (claim, building, renew, review, shipped, release) as fast as answers come. */
async function factory(agent: Agent, api: string, id: string, until: number, totals: Totals): Promise<void> {
  const caps = ["os:linux", "engine:shell"];
  let nextBeat = 0;
  while (Date.now() < until) {
    if (Date.now() >= nextBeat) {
      await call(agent, api, totals, "POST", "/fleet/factories/heartbeat", {
        factoryId: id,
        capabilities: caps,
        health: "ok",
        load: 0,
      });
      nextBeat = Date.now() + 5_000;
    }
    const claim = await call(agent, api, totals, "POST", "/fleet/claim", { factoryId: id, capabilities: caps });
    const answer = claim.json as { job?: { id: string }; leaseEpoch?: number } | undefined;
    if (claim.status !== 200 || !answer?.job || answer.leaseEpoch === undefined) continue;
    const { job, leaseEpoch } = answer as { job: { id: string }; leaseEpoch: number };
    for (const stage of ["building", "renew", "review", "shipped"]) {
      const report =
        stage === "renew"
          ? await call(agent, api, totals, "POST", `/fleet/jobs/${job.id}/lease/renew`, { leaseEpoch })
          : await call(agent, api, totals, "PATCH", `/fleet/jobs/${job.id}`, { stage, leaseEpoch });
      if (report.status === 200) {
        const key = `${job.id}@${leaseEpoch}`;
        totals.holders.set(key, (totals.holders.get(key) ?? new Set<string>()).add(id));
      }
    }
    await call(agent, api, totals, "POST", `/fleet/jobs/${job.id}/lease/release`, { leaseEpoch });
    totals.cycles++;
  }
}

/** 8. Saturation, closed loop: `factories` simulated factories as fast as `processes` coordinators on `engine` answer. */
export async function coordinatorSaturation(
  engine: Engine,
  processes: number,
  factories: number,
  seconds: number,
): Promise<Figure[]> {
  const label = `coordinator saturation, ${factories} closed-loop factories, ${engine === "sqlite" ? "SQLite, 1 process" : `PostgreSQL, ${processes} process${processes > 1 ? "es" : ""}`}`;
  const world = await coordinatorWorld(engine, processes, { queued: 30_000, finished: 50_000 });
  if (!world) return [{ case: label, metric: "skipped", value: 0, unit: "", note: "PostgreSQL is not installed" }];
  const agent = new Agent({ connections: Math.ceil(128 / processes), keepAliveTimeout: 30_000 });
  const totals: Totals = { requests: 0, errors: 0, cycles: 0, holders: new Map() };
  const cpu0 = world.cpu();
  const started = performance.now();
  const until = Date.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: factories }, (_, i) =>
      factory(agent, world.apis[i % processes]!, `sim-factory-${i}`, until, totals),
    ),
  );
  const elapsed = (performance.now() - started) / 1000;
  const cpu1 = world.cpu();
  await agent.close();
  await world.stop();
  const { doubled } = await world.check();
  const clientSeen = [...totals.holders.values()].filter((set) => set.size > 1).length;
  const coordinatorCpu = cpu1.coordinators - cpu0.coordinators;
  const databaseCpu = cpu1.database - cpu0.database;
  const perCycle = (cpu: number) => (cpu / Math.max(1, totals.cycles)) * 1000;
  return [
    {
      case: label,
      metric: `requests/s over ${seconds}s`,
      value: totals.requests / elapsed,
      unit: "req/s",
      note: `${(totals.requests / elapsed / processes).toFixed(0)} req/s per process, ${totals.cycles} job cycles, ${totals.errors} errors; load average ${loadavg()[0]!.toFixed(1)}`,
    },
    {
      case: label,
      metric: "CPU per job cycle",
      value: perCycle(coordinatorCpu + databaseCpu),
      unit: "ms",
      note: `claim, 3 reports, renew, release: coordinator ${perCycle(coordinatorCpu).toFixed(2)} ms${engine === "postgres" ? ` + PostgreSQL ${perCycle(databaseCpu).toFixed(2)} ms` : ""}`,
    },
    {
      case: label,
      metric: "jobs held by two factories under one epoch",
      value: doubled + clientSeen,
      unit: "count",
      target: "0",
      pass: doubled + clientSeen === 0,
    },
  ];
}
