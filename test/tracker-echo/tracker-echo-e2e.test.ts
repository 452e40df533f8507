import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { aq, ROOT, writeTestConfig } from "../helpers/cli.ts";
import { metaOf, stageOf } from "../helpers/jobs.ts";
import { tempDir } from "../helpers/temp.ts";

const TOKEN = "tok-E2E-SENTINEL";
const PROMPT = "E2E-PROMPT-SENTINEL";

interface Request {
  method: string;
  url: string;
  authorization: string | undefined;
  productId: string | undefined;
  body: string;
}

let server: Server | undefined;

/** A tracker on loopback: items T-7 (a shell job), everything else 404; comments 201. */
async function startTracker(): Promise<{ api: string; requests: Request[] }> {
  const requests: Request[] = [];
  server = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk) => (body += chunk));
    req.on("end", () => {
      requests.push({
        method: req.method!,
        url: req.url!,
        authorization: req.headers.authorization,
        productId: req.headers["x-product-id"] as string | undefined,
        body,
      });
      if (req.method === "GET" && req.url === "/api/tracker/items/T-7") {
        res.setHeader("content-type", "application/json");
        res.end(
          JSON.stringify({
            id: "T-7",
            title: "Write the greeting",
            bodyMd: `---\nengine: shell\n---\necho ${PROMPT} > greeting.txt\n`,
          }),
        );
      } else if (req.method === "POST") {
        res.statusCode = 201;
        res.end();
      } else {
        res.statusCode = 404;
        res.end("not found");
      }
    });
  });
  await new Promise<void>((done) => server!.listen(0, "127.0.0.1", done));
  return { api: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api`, requests };
}

afterEach(async () => {
  await new Promise((done) => (server ? server.close(done) : done(undefined)));
  server = undefined;
});

describe("tracker-echo over real HTTP, with the example sink plugin", () => {
  it("materializes a job from a tracker item, runs it, echoes every stage and writes the sink's events", async () => {
    const { api, requests } = await startTracker();
    const dir = tempDir();
    const sink = join(ROOT, "examples", "jsonl-sink", "index.js");
    writeTestConfig(dir, { plugins: [[sink, { path: "events/queue.jsonl" }]] });
    const env = { AQ_TRACKER_API: api, AQ_TRACKER_TOKEN: TOKEN, AQ_PRODUCT_ID: "prod-e2e" };
    const added = await aq(["add", "--from-tracker", "T-7"], { cwd: dir, env });
    expect(added.stderr).toBe("");
    expect(added.code).toBe(0);
    const id = added.stdout.trim();
    expect(id).toMatch(/^write-the-greeting-/);
    const ran = await aq(["run", "--once"], { cwd: dir, env });
    expect(ran.code).toBe(0);
    const queue = join(dir, "queue");
    expect(stageOf(queue, id)).toBe("review");
    expect(metaOf(queue, id)).toMatchObject({ tracker: "T-7", origin: { kind: "tracker", item: "T-7" } });
    expect(requests.map((r) => `${r.method} ${r.url}`)).toEqual([
      "GET /api/tracker/items/T-7",
      ...Array(4).fill("POST /api/tracker/items/T-7/comments"),
    ]);
    expect(requests.slice(1).map((r) => JSON.parse(r.body).body)).toEqual([
      `aq: job ${id} new → queued`,
      `aq: job ${id} queued → assigned`,
      `aq: job ${id} assigned → building`,
      `aq: job ${id} building → review`,
    ]);
    for (const r of requests) {
      expect(r.authorization).toBe(`Bearer ${TOKEN}`);
      expect(r.productId).toBe("prod-e2e");
      expect(r.body).not.toContain(PROMPT);
    }
    expect(added.stderr + ran.stderr).not.toContain(TOKEN);
    const events = readFileSync(join(dir, "events", "queue.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line));
    expect(events.map((e) => `${e.type} ${e.from} ${e.to}`)).toEqual([
      "stage null queued",
      "stage queued assigned",
      "stage assigned building",
      "stage building review",
    ]);
    expect(events.every((e) => e.job === id)).toBe(true);
  });

  it("a tracker that is down costs one warning line per echo and the job still reaches review", async () => {
    const { api } = await startTracker();
    await new Promise((done) => server!.close(done));
    server = undefined;
    const dir = tempDir();
    writeTestConfig(dir);
    writeFileSync(join(dir, "job.md"), "---\nengine: shell\ntracker: T-1\n---\ntrue\n");
    const env = { AQ_TRACKER_API: api, AQ_TRACKER_TOKEN: TOKEN };
    const added = await aq(["add", "job.md", "--id", "down"], { cwd: dir, env });
    expect(added.code).toBe(0);
    const ran = await aq(["run", "--once"], { cwd: dir, env });
    expect(ran.code).toBe(0);
    expect(stageOf(join(dir, "queue"), "down")).toBe("review");
    const warnings = (added.stderr + ran.stderr).split("\n").filter((line) => line.includes("not delivered"));
    expect(warnings).toHaveLength(4);
    for (const line of warnings) expect(line).toMatch(/tracker unreachable for POST .*: ECONNREFUSED/);
    expect(added.stderr + ran.stderr).not.toMatch(/\n\s+at /);
  });

  it("aq add --from-tracker fails in one line when the item cannot be read", async () => {
    const { api } = await startTracker();
    const dir = tempDir();
    writeTestConfig(dir);
    const missing = await aq(["add", "--from-tracker", "NOPE-1"], { cwd: dir, env: { AQ_TRACKER_API: api } });
    expect(missing.code).toBe(1);
    expect(missing.stderr.trim().split("\n")).toEqual([
      "aq: tracker item NOPE-1: tracker answered GET tracker/items/NOPE-1 with 404",
    ]);
    const unset = await aq(["add", "--from-tracker", "T-7"], { cwd: dir });
    expect(unset.code).toBe(1);
    expect(unset.stderr).toMatch(/AQ_TRACKER_API is not set/);
  });

  it("turned off in the config it makes no request; given bad options it stops the command with exit 2", async () => {
    const { api, requests } = await startTracker();
    const dir = tempDir();
    writeTestConfig(dir, { plugins: [["tracker-echo", false]] });
    writeFileSync(join(dir, "job.md"), "---\nengine: shell\ntracker: T-1\n---\ntrue\n");
    expect((await aq(["add", "job.md"], { cwd: dir, env: { AQ_TRACKER_API: api } })).code).toBe(0);
    expect((await aq(["run", "--drain"], { cwd: dir, env: { AQ_TRACKER_API: api } })).code).toBe(0);
    expect(requests).toEqual([]);
    const bad = tempDir();
    writeTestConfig(bad, { plugins: [["tracker-echo", { timeout: "soon" }]] });
    const result = await aq(["status"], { cwd: bad, env: { AQ_TRACKER_API: api } });
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split("\n")).toEqual([
      expect.stringMatching(/aq\.config\.json: plugin "tracker-echo": options\.timeout: must be a duration/),
    ]);
  });
});
