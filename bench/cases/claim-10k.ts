import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Figure, median, ROOT, spread, tempDir } from "../lib.ts";

type Store = object;
type Dist = {
  open: (root: string, options: object) => Promise<Store>;
  claimNext: (store: Store, claimer: object) => Promise<{ claimed?: object }>;
  selfRef: () => object;
};

async function dist(): Promise<Dist> {
  const store = await import(join(ROOT, "dist/src/core/queue-store.js"));
  const claim = await import(join(ROOT, "dist/src/core/claim.js"));
  const ref = await import(join(ROOT, "dist/src/core/process-ref.js"));
  return {
    open: (root, options) => store.QueueStore.open(root, options),
    claimNext: claim.claimNext,
    selfRef: ref.selfRef,
  };
}

const WARM_UP = 5;

/** `count` queued jobs written straight onto disk, as the store would. */
function writeQueued(queue: string, count: number): void {
  const at = new Date().toISOString();
  for (let i = 0; i < count; i++) {
    const id = `job-${String(i).padStart(5, "0")}`;
    const jobDir = join(queue, "queued", id);
    mkdirSync(jobDir, { recursive: true });
    writeFileSync(join(jobDir, "job.md"), "---\nengine: shell\n---\ntrue\n");
    writeFileSync(
      join(jobDir, "meta.json"),
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
  }
}

/** One claim (lock, list, pick, move to assigned) at `queued` jobs waiting; ms per claim over `claims` claims. */
async function claims(queued: number, claims: number): Promise<number[]> {
  const { open, claimNext, selfRef } = await dist();
  const dir = tempDir("aq-bench-claim-");
  writeQueued(join(dir, "queue"), queued + claims + WARM_UP);
  // The set-up's dirty pages written out first: else the claims' fsyncs pay for them.
  execFileSync("sync");
  const store = await open(join(dir, "queue"), { gitQueue: false });
  const claimer = { by: "bench", owner: selfRef() };
  // A few first claims warm the store's caches and the JIT, as a running runner's are.
  for (let i = 0; i < WARM_UP; i++) await claimNext(store, claimer);
  const values: number[] = [];
  for (let i = 0; i < claims; i++) {
    const started = performance.now();
    const result = await claimNext(store, claimer);
    values.push(performance.now() - started);
    if (!result.claimed) throw new Error("nothing claimed");
  }
  return values;
}

/** A claim's cost at 10 and at 10,000 queued jobs: it should not grow with the queue. */
export async function claim10k(large: number, runs: number): Promise<Figure[]> {
  const small = await claims(10, runs);
  const big = await claims(large, runs);
  const ratio = median(big) / median(small);
  return [
    { case: "claim", metric: "one claim, 10 queued", value: median(small), unit: "ms", spread: spread(small) },
    {
      case: "claim",
      metric: `one claim, ${large.toLocaleString("en")} queued`,
      value: median(big),
      unit: "ms",
      spread: spread(big),
      baseline: { metric: "10 queued", value: median(small) },
      ratio,
      target: "≤ 2×",
      pass: ratio <= 2,
    },
  ];
}
