import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BIN, env, type Figure, median, NODE, spread, tempDir } from "../lib.ts";
import { writeJobs } from "./status-10k.ts";

/**
 * `aq dashboard` over 10,000 jobs: start-up until the URL is printed (the first snapshot is built
 * by then), the first paint as a browser asks for it (the page, then its script and style, then
 * the summary and the first page of jobs), how long a new job takes to reach an open page as a
 * server-sent event, and the server's memory afterwards.
 */
export async function dashboard10k(count: number, runs: number): Promise<Figure[]> {
  const dir = tempDir("aq-bench-dashboard-");
  const queue = join(dir, "queue");
  writeJobs(queue, count);
  const started = performance.now();
  const child = spawn(NODE, [BIN, "dashboard", "--port", "0"], {
    cwd: dir,
    env: env(),
    stdio: ["ignore", "pipe", "inherit"],
  });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let out = "";
      child.stdout.on("data", (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes("\n")) resolve(out.split("\n")[0]!);
      });
      child.once("exit", (code) => reject(new Error(`aq dashboard exited ${code}`)));
    });
    const startMs = performance.now() - started;
    const kib = (field: string, status: string) =>
      Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? Number.NaN);
    const rssAtStart = kib("VmRSS", readFileSync(`/proc/${child.pid}/status`, "utf8"));
    const paints: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      const page = await text(url);
      await Promise.all([scripts(url, page), text(`${url}app.css`)]);
      const [, jobs] = await Promise.all([
        text(`${url}api/summary`),
        text(`${url}api/jobs?stage=active&offset=0&limit=50`),
      ]);
      if ((JSON.parse(jobs) as { jobs: unknown[] }).jobs.length !== 50)
        throw new Error("the first page of jobs is not 50 rows");
      paints.push(performance.now() - t0);
    }
    const changes: number[] = [];
    for (let i = 0; i < runs; i++) changes.push(await changeReachesPage(url, queue, `bench-new-${i}`));
    const status = readFileSync(`/proc/${child.pid}/status`, "utf8");
    const label = `${count.toLocaleString("en-US")} jobs`;
    return [
      {
        case: "dashboard over 10,000 jobs",
        metric: `aq dashboard: start until the URL is printed, ${label}`,
        value: startMs,
        unit: "ms",
      },
      {
        case: "dashboard over 10,000 jobs",
        metric: "first paint: page, script, style, summary and 50 jobs",
        value: median(paints),
        unit: "ms",
        spread: spread(paints),
        target: "< 500 ms",
        pass: median(paints) < 500,
        note: `first load ${paints[0]!.toFixed(0)} ms`,
      },
      {
        case: "dashboard over 10,000 jobs",
        metric: "a new job reaches an open page (change event)",
        value: median(changes),
        unit: "ms",
        spread: spread(changes),
        note: "150 ms of it is the debounce",
      },
      { case: "dashboard over 10,000 jobs", metric: "server RSS once started", value: rssAtStart / 1024, unit: "MiB" },
      {
        case: "dashboard over 10,000 jobs",
        metric: `server RSS after ${runs} page loads and ${runs} changes`,
        value: kib("VmRSS", status) / 1024,
        unit: "MiB",
        note: `peak ${(kib("VmHWM", status) / 1024).toFixed(0)} MiB`,
      },
    ];
  } finally {
    child.kill("SIGTERM");
  }
}

async function text(url: string): Promise<string> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: ${response.status}`);
  return response.text();
}

/** The page's ES modules, fetched as a browser does: the entry, then each module's imports. */
async function scripts(url: string, page: string): Promise<void> {
  const seen = new Set<string>();
  const load = async (path: string): Promise<void> => {
    if (seen.has(path)) return;
    seen.add(path);
    const body = await text(new URL(path, url).href);
    const imports = [...body.matchAll(/\bfrom "([^"]+)"/g)].map((m) => new URL(m[1]!, new URL(path, url)).pathname);
    await Promise.all(imports.map(load));
  };
  await Promise.all([...page.matchAll(/<script type="module" src="([^"]+)"/g)].map((m) => load(m[1]!)));
}

/** Opens the event stream, drops a job into queued/ (one rename, as the store does) and times the change event. */
async function changeReachesPage(url: string, queue: string, id: string): Promise<number> {
  const controller = new AbortController();
  const response = await fetch(`${url}api/events`, { signal: controller.signal });
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  const next = async (event: string) => {
    while (!buffer.includes(`event: ${event}\n`)) {
      const { value, done } = await reader.read();
      if (done) throw new Error("the event stream ended");
      buffer += decoder.decode(value, { stream: true });
    }
    buffer = "";
  };
  await next("hello");
  const scratch = join(queue, ".aq", "tmp", id);
  mkdirSync(scratch, { recursive: true });
  writeFileSync(join(scratch, "job.md"), "---\nengine: shell\n---\ntrue\n");
  const at = new Date().toISOString();
  writeFileSync(
    join(scratch, "meta.json"),
    JSON.stringify({
      id,
      stage: "queued",
      attempts: 0,
      priority: 0,
      createdAt: at,
      origin: { kind: "local" },
      history: [{ from: null, to: "queued", at, by: "bench" }],
    }),
  );
  const t0 = performance.now();
  renameSync(scratch, join(queue, "queued", id));
  await next("change");
  const ms = performance.now() - t0;
  controller.abort();
  return ms;
}
