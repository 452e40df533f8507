import { execFileSync, spawn, spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Figure, median, spread, tempDir } from "../lib.ts";
import { bareSpawns, drain } from "./per-job.ts";

/**
 * The same drain (`count` jobs whose body is `true`, one slot, no git) through aq, through
 * task-spooler and through a plain shell loop, in this one run: each one's cost per job and aq's
 * ratio to each. Each is timed from the moment its queue is full to the moment it is empty.
 */
export async function peers(count: number, rounds = 3): Promise<Figure[]> {
  const tsp = taskSpooler();
  const loop: number[] = [];
  const node: number[] = [];
  const spooler: number[] = [];
  const aq: number[] = [];
  await bareSpawns(20);
  for (let round = 0; round < rounds; round++) {
    loop.push(shellLoop(count));
    node.push(await bareSpawns(count));
    if (tsp) spooler.push(await spoolerDrain(tsp, count));
    aq.push(await drain(count, 1, { git: false }));
  }
  const aqMs = median(aq);
  const loopMs = median(loop);
  const nodeMs = median(node);
  const figures: Figure[] = [
    { case: "peers", metric: `shell loop, ${count} × sh -c true`, value: loopMs, unit: "ms/job", spread: spread(loop) },
    {
      case: "peers",
      metric: `sh -c true spawned from Node, one after another`,
      value: nodeMs,
      unit: "ms/job",
      spread: spread(node),
      baseline: { metric: "shell loop", value: loopMs },
      ratio: nodeMs / loopMs,
    },
  ];
  if (tsp) {
    const spoolerMs = median(spooler);
    figures.push({
      case: "peers",
      metric: `task-spooler ${tsp.version}, ${count} jobs, 1 slot`,
      value: spoolerMs,
      unit: "ms/job",
      spread: spread(spooler),
      baseline: { metric: "shell loop", value: loopMs },
      ratio: spoolerMs / loopMs,
    });
    figures.push({
      case: "peers",
      metric: `aq drain, ${count} jobs, 1 slot, no git: against task-spooler`,
      value: aqMs,
      unit: "ms/job",
      spread: spread(aq),
      baseline: { metric: "task-spooler", value: spoolerMs },
      ratio: aqMs / spoolerMs,
      target: "≤ 1×",
      pass: aqMs <= spoolerMs,
    });
  } else {
    figures.push({
      case: "peers",
      metric: "task-spooler",
      value: Number.NaN,
      unit: "ms/job",
      note: "not installed and apt-get could not install it",
    });
  }
  figures.push({
    case: "peers",
    metric: `aq drain, ${count} jobs, 1 slot, no git: against the shell loop`,
    value: aqMs,
    unit: "ms/job",
    spread: spread(aq),
    baseline: { metric: "shell loop", value: loopMs },
    ratio: aqMs / loopMs,
    target: "≤ 3×",
    pass: aqMs / loopMs <= 3,
  });
  figures.push({
    case: "peers",
    metric: `aq drain: against sh -c true spawned from Node`,
    value: aqMs,
    unit: "ms/job",
    spread: spread(aq),
    baseline: { metric: "Node spawn", value: nodeMs },
    ratio: aqMs / nodeMs,
    target: "≤ 3×",
    pass: aqMs / nodeMs <= 3,
  });
  return figures;
}

/** `for i in …; do sh -c true; done` in one sh: fork and exec of the body, nothing else. */
function shellLoop(count: number): number {
  const started = performance.now();
  execFileSync("sh", ["-c", `i=0; while [ $i -lt ${count} ]; do sh -c true; i=$((i+1)); done`], { stdio: "ignore" });
  return (performance.now() - started) / count;
}

interface Spooler {
  readonly bin: string;
  readonly version: string;
}

/** Debian ships task-spooler's client as `tsp` (elsewhere `ts`); installed here when missing. */
function taskSpooler(): Spooler | undefined {
  const find = () => ["tsp", "ts"].find((bin) => spawnSync(bin, ["-V"], { stdio: "pipe" }).status === 0);
  let bin = find();
  if (!bin && process.getuid?.() === 0) {
    process.stderr.write("bench: installing task-spooler with apt-get…\n");
    const install = () =>
      spawnSync("apt-get", ["install", "-y", "-q", "task-spooler"], {
        stdio: "ignore",
        env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
      }).status === 0;
    if (!install()) {
      spawnSync("apt-get", ["update", "-q"], { stdio: "ignore" });
      install();
    }
    bin = find();
  }
  if (!bin) return undefined;
  const version =
    /v?(\d[\w.+-]*)/.exec(
      spawnSync(bin, ["-V"], { encoding: "utf8" }).stdout + spawnSync(bin, ["-V"], { encoding: "utf8" }).stderr,
    )?.[1] ?? "";
  return { bin, version };
}

/**
 * A private task-spooler server (its socket and output files in a fresh temp dir, one slot):
 * a first job holds the slot on a FIFO while `count` jobs are queued behind it, then the FIFO
 * lets it go and the clock runs until the last job has ended.
 */
async function spoolerDrain(tsp: Spooler, count: number): Promise<number> {
  const dir = tempDir("aq-bench-tsp-");
  const env = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: dir,
    TMPDIR: dir,
    TS_SOCKET: join(dir, "socket"),
    TS_SLOTS: "1",
    TS_MAXFINISHED: String(count + 10),
  };
  const run = (args: string[]) => execFileSync(tsp.bin, args, { env, encoding: "utf8" }).trim();
  const fifo = join(dir, "hold");
  execFileSync("mkfifo", [fifo]);
  try {
    run(["sh", "-c", `read line < ${fifo}`]);
    let last = "";
    for (let i = 0; i < count; i++) last = run(["sh", "-c", "true"]);
    const waiter = spawn(tsp.bin, ["-w", last], { env, stdio: "ignore" });
    const ended = new Promise<void>((done, fail) => waiter.once("error", fail).once("close", () => done()));
    const started = performance.now();
    writeFileSync(fifo, "go\n");
    await ended;
    const ms = (performance.now() - started) / count;
    // ID, State, Output (a file per job, as aq keeps a log per job), E-Level, Times, Command
    const rows = run(["-l"])
      .split("\n")
      .slice(1)
      .map((line) => line.trim().split(/\s+/));
    const ok = rows.filter((cols) => cols[1] === "finished" && cols[3] === "0").length;
    if (ok !== count + 1) throw new Error(`task-spooler: ${ok} of ${count + 1} jobs ended with 0`);
    return ms;
  } finally {
    spawnSync(tsp.bin, ["-K"], { env, stdio: "ignore" });
  }
}
