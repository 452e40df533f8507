import { setTimeout as sleep } from "node:timers/promises";
import { onTestFinished } from "vitest";
import { startAq } from "./cli.ts";

/** The operator token every coordinator process here is started with; factories and simulated factories carry it. */
export const COORDINATOR_TOKEN = "tok-e2e";

/** One `aq coordinator` process (the compiled CLI) on loopback over `db`. */
export interface CoordinatorProcess {
  readonly api: string;
  readonly port: number;
  /** Stops it with this signal and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  output(): string;
}

export async function coordinatorProcess(
  db: string,
  options: { cwd: string; port?: number; lease?: string },
): Promise<CoordinatorProcess> {
  const child = startAq(
    ["coordinator", "--port", String(options.port ?? 0), "--db", db, "--lease", options.lease ?? "3s", "--pool", "4"],
    { cwd: options.cwd, env: { AQ_COORDINATOR_TOKEN: COORDINATOR_TOKEN } },
  );
  onTestFinished(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });
  const api = await new Promise<string>((done, fail) => {
    const onData = () => {
      const first = child.output().stdout.split("\n");
      if (first.length > 1) done(first[0]!.trim());
    };
    child.stdout!.on("data", onData);
    void child.exited.then((result) =>
      fail(new Error(`aq coordinator exited ${result.code ?? result.signal}: ${result.stderr}`)),
    );
  });
  return {
    api,
    port: Number(new URL(api).port),
    async stop(signal = "SIGTERM") {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await child.exited;
    },
    output: () => child.output().stderr,
  };
}

export interface SimRecord {
  /** Reports the coordinator accepted: (job, epoch, factory, stage). */
  readonly accepted: Array<{ job: string; epoch: number; factory: string; stage: string }>;
  /** Claims granted: (job, epoch, factory). */
  readonly claims: Array<{ job: string; epoch: number; factory: string }>;
  fenced: number;
  networkErrors: number;
}

async function call(method: string, url: string, body: unknown): Promise<{ status: number; body: any } | undefined> {
  try {
    const response = await fetch(url, {
      method,
      headers: { "content-type": "application/json", authorization: `Bearer ${COORDINATOR_TOKEN}` },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(5_000),
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : undefined };
  } catch {
    return undefined;
  }
}

/**
 * A factory reduced to its HTTP calls: claim when idle, then building, review and shipped with
 * a renewal after each, then release. A network error or 5xx is retried (the coordinator behind
 * the address may be restarting); a 409 drops the job (fenced).
 */
export async function simFactory(
  api: string,
  id: string,
  done: () => boolean,
  record: SimRecord,
  workMs = 20,
): Promise<void> {
  const persist = async (method: string, path: string, body: unknown) => {
    for (;;) {
      const answer = await call(method, `${api}${path}`, body);
      if (answer && answer.status < 500) return answer;
      record.networkErrors++;
      if (done()) return undefined;
      await sleep(30);
    }
  };
  const caps = ["os:linux", "engine:shell"];
  while (!done()) {
    const claim = await call("POST", `${api}/fleet/claim`, { factoryId: id, capabilities: caps });
    if (!claim) record.networkErrors++;
    if (claim?.status !== 200) {
      await sleep(30);
      continue;
    }
    const { job, leaseEpoch } = claim.body as { job: { id: string }; leaseEpoch: number };
    record.claims.push({ job: job.id, epoch: leaseEpoch, factory: id });
    let fenced = false;
    for (const stage of ["building", "review", "shipped"]) {
      const report = await persist("PATCH", `/fleet/jobs/${job.id}`, { stage, leaseEpoch });
      if (!report) return;
      if (report.status === 409) {
        fenced = true;
        record.fenced++;
        break;
      }
      if (report.status === 200) record.accepted.push({ job: job.id, epoch: leaseEpoch, factory: id, stage });
      if (stage !== "shipped") await persist("POST", `/fleet/jobs/${job.id}/lease/renew`, { leaseEpoch });
      await sleep(workMs);
    }
    if (!fenced) await persist("POST", `/fleet/jobs/${job.id}/lease/release`, { leaseEpoch });
  }
}
