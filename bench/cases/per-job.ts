import { spawn } from "node:child_process";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { type Figure, median, ROOT, tempDir } from "../lib.ts";

type Dist = {
  createAq: (options: object) => Promise<{ store: { create: Function; root: string }; lifecycle: object }>;
  Runner: new (aq: object) => { run(options: { mode: "drain"; concurrency: number }): Promise<{ outcomes: Record<string, string> }> };
  parseJob: (text: string, source: string) => object;
  createLogger: (options: object) => object;
};

async function dist(): Promise<Dist> {
  const app = await import(join(ROOT, "dist/src/app.js"));
  const runner = await import(join(ROOT, "dist/src/core/runner.js"));
  const jobFile = await import(join(ROOT, "dist/src/core/job-file.js"));
  const logger = await import(join(ROOT, "dist/src/core/logger.js"));
  return { createAq: app.createAq, Runner: runner.Runner, parseJob: jobFile.parseJob, createLogger: logger.createLogger };
}

/** Drains `count` jobs in process (start-up excluded) and answers ms per job. */
export async function drain(count: number, concurrency: number, options: { git: boolean }): Promise<number> {
  const { createAq, Runner, parseJob, createLogger } = await dist();
  const dir = tempDir("aq-bench-drain-");
  let cwd = dir;
  if (options.git) {
    cwd = join(dir, "repo");
    execFileSync("git", ["init", "-q", "-b", "main", cwd]);
    execFileSync("git", ["-C", cwd, "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-q", "--allow-empty", "-m", "init"]);
  }
  const config = { defaults: { engine: "shell" }, pollInterval: "20ms", killGrace: "1s", gitQueue: options.git, workdir: cwd, queueDir: options.git ? "repo/queue" : "queue" };
  (await import("node:fs")).writeFileSync(join(dir, "aq.config.json"), JSON.stringify(config));
  const aq = await createAq({ cwd: dir, env: { PATH: process.env.PATH }, logger: createLogger({ level: "silent" }) });
  const text = "---\nengine: shell\n---\ntrue\n";
  const spec = parseJob(text, "bench");
  for (let i = 0; i < count; i++) {
    await aq.store.create({ id: `j${String(i).padStart(5, "0")}`, text, spec, origin: { kind: "local" } }, { by: "bench" });
  }
  const started = performance.now();
  const summary = await new Runner(aq).run({ mode: "drain", concurrency });
  const ms = performance.now() - started;
  const reviewed = Object.values(summary.outcomes).filter((stage) => stage === "review").length;
  if (reviewed !== count) throw new Error(`only ${reviewed} of ${count} jobs reached review`);
  return ms / count;
}

export function bareSpawns(count: number): Promise<number> {
  return new Promise((done) => {
    const started = performance.now();
    let left = count;
    const next = () => {
      if (left-- === 0) return done((performance.now() - started) / count);
      spawn("sh", ["-c", "true"], { stdio: "ignore" }).once("close", next);
    };
    next();
  });
}

/** 2. and 3. Per-job overhead against bare spawns, with and without git; drain throughput by concurrency. */
export async function perJob(count: number): Promise<Figure[]> {
  await bareSpawns(20);
  const bare = median([await bareSpawns(count), await bareSpawns(count), await bareSpawns(count)]);
  const plain = median([await drain(count, 1, { git: false }), await drain(count, 1, { git: false }), await drain(count, 1, { git: false })]);
  const figures: Figure[] = [
    { case: "per-job overhead", metric: "sh -c true spawned from Node", value: bare, unit: "ms/job" },
    { case: "per-job overhead", metric: `aq drain, ${count} shell jobs (true), no git, 1 slot`, value: plain, unit: "ms/job", baseline: { metric: "sh -c true", value: bare }, ratio: plain / bare, target: "≤ 3×", pass: plain / bare <= 3 },
  ];
  const withGit = await drain(Math.min(count, 20), 1, { git: true });
  figures.push({ case: "per-job overhead", metric: "same with git-queue commits and a worktree per job", value: withGit, unit: "ms/job", baseline: { metric: "sh -c true", value: bare }, ratio: withGit / bare, note: "git processes dominate: worktree add, commits of each transition, the wip commit" });
  for (const concurrency of [1, 2, 4]) {
    const ms = await drain(count, concurrency, { git: false });
    figures.push({ case: "drain throughput", metric: `--concurrency ${concurrency}`, value: 1000 / ms, unit: "jobs/s" });
  }
  return figures;
}
