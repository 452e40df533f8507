import { spawn } from "node:child_process";
import { execFileSync } from "node:child_process";
import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Figure, median, ROOT, tempDir } from "../lib.ts";

type Dist = {
  createAq: (
    options: object,
  ) => Promise<{ store: { create: (...args: any[]) => unknown; root: string }; lifecycle: object }>;
  Runner: new (
    aq: object,
  ) => { run(options: { mode: "drain"; concurrency: number }): Promise<{ outcomes: Record<string, string> }> };
  parseJob: (text: string, source: string) => object;
  createLogger: (options: object) => object;
};

async function dist(): Promise<Dist> {
  const app = await import(join(ROOT, "dist/src/app.js"));
  const runner = await import(join(ROOT, "dist/src/core/runner.js"));
  const jobFile = await import(join(ROOT, "dist/src/core/job-file.js"));
  const logger = await import(join(ROOT, "dist/src/core/logger.js"));
  return {
    createAq: app.createAq,
    Runner: runner.Runner,
    parseJob: jobFile.parseJob,
    createLogger: logger.createLogger,
  };
}

/**
 * A `git` first on PATH that counts its calls (one line each in `file`) and runs the real one:
 * the git processes a job costs, from its add to its review.
 */
function countingGit(file: string): string {
  const real = execFileSync("sh", ["-c", "command -v git"], { encoding: "utf8" }).trim();
  const dir = tempDir("aq-bench-gitshim-");
  writeFileSync(join(dir, "git"), `#!/bin/sh\necho >> "${file}"\nexec "${real}" "$@"\n`);
  chmodSync(join(dir, "git"), 0o755);
  return dir;
}

async function gitProcessesPerJob(count: number): Promise<number> {
  const file = join(tempDir("aq-bench-gitcount-"), "calls");
  const saved = process.env.PATH;
  process.env.PATH = `${countingGit(file)}:${saved}`;
  try {
    await drain(count, 1, { git: true, includeAdd: true });
  } finally {
    process.env.PATH = saved;
  }
  return (
    readFileSync(file, "utf8")
      .split("\n")
      .filter((line) => line === "").length / count
  );
}

/** Drains `count` jobs in process (start-up excluded) and answers ms per job. */
export async function drain(
  count: number,
  concurrency: number,
  options: { git: boolean; includeAdd?: boolean },
): Promise<number> {
  const { createAq, Runner, parseJob, createLogger } = await dist();
  const dir = tempDir("aq-bench-drain-");
  let cwd = dir;
  if (options.git) {
    cwd = join(dir, "repo");
    execFileSync("git", ["init", "-q", "-b", "main", cwd]);
    execFileSync("git", [
      "-C",
      cwd,
      "-c",
      "user.name=b",
      "-c",
      "user.email=b@b",
      "commit",
      "-q",
      "--allow-empty",
      "-m",
      "init",
    ]);
  }
  const config = {
    defaults: { engine: "shell" },
    pollInterval: "20ms",
    killGrace: "1s",
    gitQueue: options.git,
    workdir: cwd,
    queueDir: options.git ? "repo/queue" : "queue",
  };
  (await import("node:fs")).writeFileSync(join(dir, "aq.config.json"), JSON.stringify(config));
  const aq = await createAq({ cwd: dir, env: { PATH: process.env.PATH }, logger: createLogger({ level: "silent" }) });
  const text = "---\nengine: shell\n---\ntrue\n";
  const spec = parseJob(text, "bench");
  const added = performance.now();
  for (let i = 0; i < count; i++) {
    await aq.store.create(
      { id: `j${String(i).padStart(5, "0")}`, text, spec, origin: { kind: "local" } },
      { by: "bench" },
    );
  }
  const started = performance.now();
  const summary = await new Runner(aq).run({ mode: "drain", concurrency });
  const ms = performance.now() - (options.includeAdd ? added : started);
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
  const plain = median([
    await drain(count, 1, { git: false }),
    await drain(count, 1, { git: false }),
    await drain(count, 1, { git: false }),
  ]);
  const figures: Figure[] = [
    { case: "per-job overhead", metric: "sh -c true spawned from Node", value: bare, unit: "ms/job" },
    {
      case: "per-job overhead",
      metric: `aq drain, ${count} shell jobs (true), no git, 1 slot`,
      value: plain,
      unit: "ms/job",
      baseline: { metric: "sh -c true", value: bare },
      ratio: plain / bare,
      target: "≤ 3×",
      pass: plain / bare <= 3,
    },
  ];
  const gitJobs = Math.min(count, 40);
  const withGit = median([
    await drain(gitJobs, 1, { git: true }),
    await drain(gitJobs, 1, { git: true }),
    await drain(gitJobs, 1, { git: true }),
  ]);
  const gitCalls = await gitProcessesPerJob(Math.min(count, 20));
  figures.push({
    case: "per-job overhead",
    metric: "same with git-queue commits and a worktree per job",
    value: withGit,
    unit: "ms/job",
    baseline: { metric: "no git", value: plain },
    ratio: withGit / plain,
    target: "≤ 5×",
    pass: withGit / plain <= 5,
    note: `${gitCalls.toFixed(1)} git processes per job (add to review): worktree add, the wip commit's status (and add, commit when the job changed files), one fast-import per batch of audit commits`,
  });
  figures.push({
    case: "per-job overhead",
    metric: "git processes per job, add to review, git-queue with worktrees",
    value: gitCalls,
    unit: "processes/job",
  });
  for (const concurrency of [1, 2, 4]) {
    const ms = await drain(count, concurrency, { git: false });
    figures.push({
      case: "drain throughput",
      metric: `--concurrency ${concurrency}`,
      value: 1000 / ms,
      unit: "jobs/s",
    });
  }
  return figures;
}
