import { execFileSync, spawn } from "node:child_process";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { BIN, env, type Figure, median, NODE, percentile, ROOT, tempDir, writeConfig } from "../lib.ts";

type Coordinator = {
  api: string;
  token: string;
  store: {
    enqueue(input: object): unknown;
    jobs(): Array<{ stage: string }>;
    events(): Array<{ jobId: string; type: string; stage: string | null; at: string }>;
  };
  stats(): Record<string, number>;
  close(): Promise<void>;
};

async function coordinator(db: string): Promise<Coordinator> {
  const { startCoordinator } = await import(join(ROOT, "dist/src/coordinator/server.js"));
  return startCoordinator({ port: 0, host: "127.0.0.1", db, leaseMs: 60_000 });
}

/** 4. Fleet: two factories drain `count` coordinator jobs; requests per job by endpoint; claim-to-building latency. */
export async function fleet(count: number): Promise<Figure[]> {
  const dir = tempDir("aq-bench-fleet-");
  const coord = await coordinator(join(dir, "coordinator.sqlite"));
  for (let i = 0; i < count; i++) coord.store.enqueue({ id: `fj-${i}`, bodyMd: "---\nengine: shell\n---\ntrue\n" });
  const factories = ["bench-a", "bench-b"].map((name) => {
    const home = join(dir, name);
    execFileSync("mkdir", ["-p", home]);
    writeConfig(home, { defaults: { engine: "shell" }, pollInterval: "20ms", concurrency: 2 });
    return spawn(NODE, [BIN, "run"], {
      cwd: home,
      env: env({
        AQ_FLEET: "1",
        AQ_FLEET_API: coord.api,
        AQ_FLEET_TOKEN: coord.token,
        AQ_FACTORY_ID: name,
        AQ_FLEET_LEASE_RENEW_SEC: "30",
      }),
      stdio: "ignore",
    });
  });
  const started = performance.now();
  while (coord.store.jobs().some((job) => job.stage !== "review")) await sleep(50);
  const seconds = (performance.now() - started) / 1000;
  for (const child of factories) child.kill("SIGTERM");
  await Promise.all(factories.map((child) => new Promise((done) => child.once("close", done))));
  const stats = coord.stats();
  const events = coord.store.events();
  const claimedAt = new Map<string, number>();
  const latencies: number[] = [];
  for (const event of events) {
    if (event.type === "claimed") claimedAt.set(event.jobId, Date.parse(event.at));
    if (event.type === "stage" && event.stage === "building" && claimedAt.has(event.jobId)) {
      latencies.push(Date.parse(event.at) - claimedAt.get(event.jobId)!);
      claimedAt.delete(event.jobId);
    }
  }
  await coord.close();
  const perJob = Object.entries(stats)
    .filter(([route]) => !route.includes("/dev/"))
    .map(([route, n]) => `${route} ${(n / count).toFixed(2)}`)
    .join("; ");
  const total = Object.entries(stats)
    .filter(([route]) => !route.includes("/dev/"))
    .reduce((sum, [, n]) => sum + n, 0);
  return [
    { case: "fleet", metric: `two factories, ${count} jobs to review`, value: count / seconds, unit: "jobs/s" },
    {
      case: "fleet",
      metric: "HTTP requests per job (all endpoints)",
      value: total / count,
      unit: "req/job",
      note: perJob,
    },
    { case: "fleet", metric: "claim → building report, median", value: median(latencies), unit: "ms" },
    { case: "fleet", metric: "claim → building report, p95", value: percentile(latencies, 95), unit: "ms" },
  ];
}

/**
 * 5. An idle factory (fleet on, coordinator up, nothing to do) for `seconds`: RSS and CPU, beside
 * an idle `node` (the floor), an idle `node` that imported ky (the HTTP stack's floor) and, when
 * BENCH_BASELINE_ROOT names a built checkout of another commit, that commit's factory, all at the
 * same time so that they share the machine's load.
 * RSS is sampled from 2 s after the start; the CPU of being idle is counted from
 * `SETTLE_SECONDS` on, once start-up's own work is done (V8's memory reducer collects a few
 * seconds after the start; the first claims back off), and start-up's CPU is its own figure.
 */
const SETTLE_SECONDS = 28;

export async function idle(seconds: number, baselineRoot = process.env.BENCH_BASELINE_ROOT): Promise<Figure[]> {
  const coord = await coordinator(":memory:");
  const factory = (root: string, id: string) => {
    const dir = tempDir("aq-bench-idle-");
    writeConfig(dir, { defaults: { engine: "shell" } });
    return spawn(NODE, [join(root, "bin", "aq.js"), "run"], {
      cwd: dir,
      env: env({ AQ_FLEET: "1", AQ_FLEET_API: coord.api, AQ_FLEET_TOKEN: coord.token, AQ_FACTORY_ID: id }),
      stdio: "ignore",
    });
  };
  const watched = [
    { name: "node", child: spawn(NODE, ["-e", "setInterval(() => {}, 1000)"], { stdio: "ignore" }) },
    { name: "aq", child: factory(ROOT, "idle") },
    { name: "claims", child: await claimCadence(coord) },
    // The stack's own floor: ky needs Node's fetch classes (Request, Response), bundled undici.
    {
      name: "ky",
      child: spawn(NODE, ["--input-type=module", "-e", 'await import("ky"); setInterval(() => {}, 1000)'], {
        cwd: ROOT,
        stdio: "ignore",
      }),
    },
    ...(baselineRoot ? [{ name: "baseline", child: factory(baselineRoot, "idle-baseline") }] : []),
  ];
  await sleep(2_000);
  const started = watched.map(({ child }) => cpuOf(child.pid!));
  let before = started;
  const rss: number[][] = watched.map(() => []);
  for (let i = 0; i < SETTLE_SECONDS + seconds; i++) {
    if (i === SETTLE_SECONDS) before = watched.map(({ child }) => cpuOf(child.pid!));
    await sleep(1_000);
    for (const [at, { child }] of watched.entries()) rss[at]!.push(rssOf(child.pid!) / 1024);
  }
  const startupCpu = watched.map((_, at) => before[at]! - started[at]!);
  const cpuPerMin = watched.map(({ child }, at) => ((cpuOf(child.pid!) - before[at]!) * 60) / seconds);
  for (const { child } of watched) child.kill("SIGTERM");
  await Promise.all(watched.map(({ child }) => new Promise((done) => child.once("close", done))));
  await coord.close();
  const [floor, aq, claims, ky, baseline] = rss.map((samples, at) => ({
    max: Math.max(...samples),
    median: median(samples),
    cpu: cpuPerMin[at]!,
    startup: startupCpu[at]!,
  }));
  const versus = (value: number, of: number | undefined, what: string) =>
    of === undefined ? {} : { baseline: { metric: what, value: of }, ratio: value / of };
  const figures: Figure[] = [
    {
      case: "idle factory",
      metric: `idle node (setInterval), RSS from 2 s to ${SETTLE_SECONDS + seconds + 2} s (max)`,
      value: floor!.max,
      unit: "MiB",
    },
    {
      case: "idle factory",
      metric: `RSS from 2 s to ${SETTLE_SECONDS + seconds + 2} s (max)`,
      value: aq!.max,
      unit: "MiB",
      ...versus(aq!.max, baseline?.max ?? floor!.max, baseline ? "baseline commit" : "idle node"),
      target: "< 60 MiB",
      pass: aq!.max < 60,
    },
    {
      case: "idle factory",
      metric: `RSS from 2 s to ${SETTLE_SECONDS + seconds + 2} s (median)`,
      value: aq!.median,
      unit: "MiB",
      ...versus(aq!.median, baseline?.median, "baseline commit"),
    },
    {
      case: "idle factory",
      metric: `CPU per minute, over ${seconds}s from ${SETTLE_SECONDS + 2} s after the start`,
      value: aq!.cpu,
      unit: "s/min",
      ...versus(aq!.cpu, baseline?.cpu, "baseline commit"),
      target: "< 0.1 s/min",
      pass: aq!.cpu < 0.1,
    },
    {
      case: "idle factory",
      metric: `CPU from 2 s to ${SETTLE_SECONDS + 2} s after the start, before the idle minute`,
      value: aq!.startup,
      unit: "s",
      ...versus(aq!.startup, baseline?.startup, "baseline commit"),
    },
  ];
  figures.push({
    case: "idle factory",
    metric: "floor: node that imported ky and idles (RSS max)",
    value: ky!.max,
    unit: "MiB",
    note: "what the stack's HTTP client costs before aq loads a line",
  });
  figures.push({
    case: "idle factory",
    metric: "floor: node + aq's HTTP client, claiming at the factory's idle pauses (RSS max)",
    value: claims!.max,
    unit: "MiB",
    note: `CPU ${claims!.cpu.toFixed(2)} s/min: what the fleet claim's cadence costs through ky over Node's fetch`,
  });
  if (baseline) {
    figures.push({
      case: "idle factory",
      metric: `baseline commit: RSS max / median`,
      value: baseline.max,
      unit: "MiB",
      note: `median ${baseline.median.toFixed(1)} MiB`,
    });
    figures.push({
      case: "idle factory",
      metric: `baseline commit: CPU per minute`,
      value: baseline.cpu,
      unit: "s/min",
    });
  }
  return figures;
}

/**
 * The idle factory's own HTTP client (ky over Node's fetch) doing only what an idle fleet factory
 * must: a heartbeat, then a claim after each of the claim's pauses (plugins/fleet/claim.ts).
 */
async function claimCadence(coord: Coordinator) {
  const client = join(ROOT, "dist", "plugins", "fleet", "client.js");
  const { IDLE_CLAIM_PAUSES_MS } = await import(join(ROOT, "dist", "plugins", "fleet", "claim.js"));
  const script = `
    const { FleetClient } = await import(${JSON.stringify(client)});
    const c = new FleetClient({ api: process.env.API, token: process.env.TOKEN, factoryId: "idle-claims", timeoutMs: 10000 });
    await c.heartbeat({ capabilities: ["shell"], health: "ok", load: 0 });
    const pauses = ${JSON.stringify(IDLE_CLAIM_PAUSES_MS)};
    let empty = 0;
    const claim = () => c.claim(["shell"]).finally(() => setTimeout(claim, pauses[Math.min(empty++, pauses.length - 1)]));
    claim();`;
  return spawn(NODE, ["--input-type=module", "-e", script], {
    env: env({ API: coord.api, TOKEN: coord.token }),
    stdio: "ignore",
  });
}

function cpuOf(pid: number): number {
  const stat = execFileSync("cat", [`/proc/${pid}/stat`], { encoding: "utf8" });
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function rssOf(pid: number): number {
  const status = execFileSync("cat", [`/proc/${pid}/status`], { encoding: "utf8" });
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
}
