import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import { deadPort } from "../helpers/fleet-cli.ts";
import {
  type Answer,
  type FleetRequest,
  kindOf,
  MOCK_API,
  MockCoordinator,
  type MockFleetJob,
} from "../helpers/fleet-mock.ts";
import { fleetAq, localId, outboxIn } from "../helpers/fleet-world.ts";
import { idsIn, metaOf, pathOf, stageOf } from "../helpers/jobs.ts";
import { tempDir } from "../helpers/temp.ts";

/**
 * docs/design.md ("The fleet plugin"): any coordinator answer — down, 5xx, an HTML page, bad JSON, wrong types, 404,
 * 401 — is validated, logged with its status, and never stops the runner or loses a job.
 */

let mock: MockCoordinator | undefined;

afterEach(async () => {
  await mock?.close();
  mock = undefined;
});

async function world(
  answer: (request: FleetRequest) => Answer | Promise<Answer>,
  jobs: MockFleetJob[] = [],
  env: Record<string, string> = {},
  config: Record<string, unknown> = {},
) {
  mock = new MockCoordinator(jobs).install();
  mock.answer = answer;
  const dir = tempDir("aq-fleet-fault-");
  const fleet = await fleetAq(dir, { AQ_FLEET_API: MOCK_API, ...env }, config);
  return { dir, mock, ...fleet };
}

const html = (statusCode: number): Answer => ({
  statusCode,
  data: "<!doctype html><html><body><h1>Bad gateway</h1></body></html>",
  headers: { "content-type": "text/html" },
});

/** Each fault, answered to every call (or to the call it names). */
const FAULTS: Array<[string, (request: FleetRequest) => Answer, RegExp]> = [
  ["answers 500", () => ({ statusCode: 500, data: { error: "boom" } }), /with 500/],
  ["answers an HTML error page (502)", () => html(502), /with 502/],
  ["answers 200 with an HTML page", () => html(200), /with 200 and a body that is not JSON/],
  [
    "answers 200 with bad JSON",
    () => ({
      statusCode: 200,
      data: '{"job": {"id": "J1", "bodyMd": ',
      headers: { "content-type": "application/json" },
    }),
    /with 200 and a body that is not JSON/,
  ],
  [
    "answers a claim with missing fields",
    (request) =>
      kindOf(request) === "claim" ? { statusCode: 200, data: { job: { id: "J9" }, leaseEpoch: "two" } } : undefined,
    /claim with 200 and an unexpected body/,
  ],
];

describe("coordinator faults", () => {
  it("with the coordinator down at start (nothing listening), local jobs still run to review; one line says so", async () => {
    const port = await deadPort();
    const dir = tempDir("aq-fleet-fault-");
    const w = await fleetAq(dir, { AQ_FLEET_API: `http://127.0.0.1:${port}/api`, AQ_FLEET_LEASE_RENEW_SEC: "0.1" });
    await w.addLocal("local-1", "sleep 0.5");
    await w.addLocal("local-2", "true");
    const summary = await w.drain();
    expect(summary.outcomes).toEqual({ "local-1": "review", "local-2": "review" });
    for (const id of ["local-1", "local-2"])
      expect(pathOf(metaOf(w.queue, id))).toEqual(["queued", "assigned", "building", "review"]);
    expect(w.loudLines()).toEqual([
      expect.stringMatching(
        /^fleet: coordinator unreachable for POST fleet\/factories\/heartbeat: ECONNREFUSED; working offline/,
      ),
    ]);
  });

  it.each(FAULTS)(
    "a coordinator that %s: the runner keeps working and local jobs still run to review",
    async (_what, answer) => {
      const w = await world(answer);
      await w.addLocal("local-1", "sleep 0.5");
      await w.addLocal("local-2", "true");
      const summary = await w.drain();
      expect(summary.outcomes).toEqual({ "local-1": "review", "local-2": "review" });
      // Nothing was materialized from a bad answer.
      expect(idsIn(w.queue, "assigned")).toEqual([]);
      expect(idsIn(w.queue, "failed")).toEqual([]);
      expect(idsIn(w.queue, "review")).toEqual(["local-1", "local-2"]);
      expect(w.mock.of("heartbeat").length).toBeGreaterThanOrEqual(2);
    },
  );

  it.each(FAULTS.slice(0, 2))(
    "a coordinator that %s is logged once with the status code, not once per call",
    async (_what, answer, problem) => {
      const w = await world(answer);
      await w.addLocal("local-1", "sleep 0.6");
      await w.drain();
      expect(w.mock.requests.length).toBeGreaterThanOrEqual(3);
      expect(w.loudLines()).toEqual([expect.stringMatching(problem)]);
    },
  );

  // Regression (fixed; plugins/fleet/connection.ts note(), heartbeat.ts beat(), claim.ts): an answer that is not
  // transient but malformed (2xx with an HTML page, bad JSON, a claim missing fields) is only
  // logged at debug level (claim) or not at all (heartbeat), so at the default level nothing says
  // the coordinator answers garbage. docs/design.md ("The fleet plugin"): "validated, logged with the status code".
  it.each(FAULTS.slice(2))(
    "a coordinator that %s is logged (warn or worse) with the status code, once per kind of call",
    async (_what, answer, problem) => {
      const w = await world(answer);
      await w.addLocal("local-1", "sleep 0.6");
      await w.drain();
      expect(w.mock.of("heartbeat").length).toBeGreaterThanOrEqual(3);
      const lines = w.loudLines().filter((line) => problem.test(line));
      expect(lines.length).toBeGreaterThanOrEqual(1);
      expect(lines.length).toBeLessThanOrEqual(2);
    },
  );

  it("a PATCH answered 404: the fleet job still completes to review, each dropped report is one warning naming 404", async () => {
    const w = await world(
      (request) => (kindOf(request) === "report" ? { statusCode: 404, data: { error: "no such job" } } : undefined),
      [{ id: "J1", bodyMd: "sleep 0.1", options: { engine: "shell" }, leaseEpoch: 3 }],
    );
    const summary = await w.drain();
    const id = localId("J1", 3);
    expect(summary.outcomes).toEqual({ [id]: "review" });
    expect(stageOf(w.queue, id)).toBe("review");
    expect(w.mock.of("report").map((request) => request.json.stage)).toEqual(["building", "review"]);
    expect(outboxIn(metaOf(w.queue, id))).toEqual([]);
    expect(w.loudLines()).toEqual([
      `fleet: report building of ${id} dropped: coordinator answered PATCH fleet/jobs/J1 with 404`,
      `fleet: report review of ${id} dropped: coordinator answered PATCH fleet/jobs/J1 with 404`,
    ]);
  });

  it("a claimed job that cannot run here (its options do not validate) is reported failed and released at once; the runner claims again and goes on", async () => {
    const w = await world(
      () => undefined,
      [{ id: "BAD", bodyMd: "true", options: { engine: "shell", timeout: "whenever" }, leaseEpoch: 4 }],
    );
    await w.addLocal("local-1", "true");
    const summary = await w.drain();
    expect(summary.outcomes).toEqual({ "local-1": "review" });
    expect(w.mock.calls()).toEqual([
      "POST /api/fleet/claim",
      "PATCH /api/fleet/jobs/BAD",
      "POST /api/fleet/jobs/BAD/lease/release",
      "POST /api/fleet/claim",
    ]);
    expect(w.mock.of("report")[0]!.json).toEqual({ stage: "failed", leaseEpoch: 4 });
    expect(w.mock.of("release")[0]!.json).toEqual({ leaseEpoch: 4 });
    expect(idsIn(w.queue, "assigned")).toEqual([]);
    expect(w.loudLines()).toEqual([
      expect.stringMatching(/^fleet: fleet job BAD cannot run here: .*timeout.*; reporting it failed$/),
    ]);
  });

  it("a 401 on the heartbeat is logged loudly once as a configuration problem and never retried; local jobs go on", async () => {
    const w = await world(
      (request) => (kindOf(request) === "heartbeat" ? { statusCode: 401, data: { error: "bad token" } } : undefined),
      [],
      { AQ_FLEET_LEASE_RENEW_SEC: "0.1" },
    );
    await w.addLocal("local-1", "sleep 0.8");
    const summary = await w.drain();
    expect(summary.outcomes).toEqual({ "local-1": "review" });
    // A second runner in the same process does not try again either.
    await w.addLocal("local-2", "true");
    await w.drain();
    await sleep(300);
    expect(stageOf(w.queue, "local-2")).toBe("review");
    expect(w.mock.calls({ heartbeats: true })).toEqual(["POST /api/fleet/factories/heartbeat"]);
    const errors = w.log.records.filter((record) => record.level === 0);
    expect(errors).toHaveLength(1);
    expect(w.loudLines()).toEqual([
      expect.stringMatching(
        /^fleet: coordinator answered POST fleet\/factories\/heartbeat with 401 \(check the token and product id: this is a configuration problem\)/,
      ),
    ]);
  });

  it("a coordinator slower than the call timeout does not hold local jobs back", async () => {
    const w = await world(
      async () => {
        await sleep(3_000);
        return undefined;
      },
      [],
      { AQ_FLEET_LEASE_RENEW_SEC: "5" },
      {
        plugins: [
          ["tracker-echo", false],
          ["fleet", { timeout: "200ms" }],
        ],
      },
    );
    await w.addLocal("local-1", "true");
    const started = Date.now();
    const summary = await w.drain();
    expect(summary.outcomes).toEqual({ "local-1": "review" });
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(w.loudLines()).toEqual([
      expect.stringMatching(
        /^fleet: coordinator did not answer POST fleet\/factories\/heartbeat within 200ms; working offline/,
      ),
    ]);
  });
});
