import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { MockAgent } from "undici";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { useDispatcher } from "../../plugins/shared/http.ts";
import { createAq } from "../../src/app.ts";
import { parseJob } from "../../src/core/job-file.ts";
import { Runner } from "../../src/core/runner.ts";
import { writeTestConfig } from "../helpers/cli.ts";
import { jobText, metaOf, stageOf } from "../helpers/jobs.ts";
import { recordingLogger } from "../helpers/logger.ts";
import { tempDir } from "../helpers/temp.ts";

const API = "http://tracker.test";
const TOKEN = "tok-SENTINEL-7f3a";
const PROMPT = "PROMPT-SENTINEL-91c2";
const env = { AQ_TRACKER_API: `${API}/api`, AQ_TRACKER_TOKEN: TOKEN, AQ_PRODUCT_ID: "prod-1" };

interface Seen {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string;
}

let agent: MockAgent;
let seen: Seen[];

/** Every request the tracker gets is recorded; `answer` decides each reply. */
function tracker(
  answer: (request: Seen) => {
    statusCode: number;
    data?: string | object;
    responseOptions?: { headers?: Record<string, string> };
  } = () => ({ statusCode: 201, data: "" }),
) {
  agent
    .get(API)
    .intercept({ path: () => true, method: () => true })
    .reply((options) => {
      const request: Seen = {
        method: options.method,
        path: options.path,
        headers: Object.fromEntries(
          Object.entries(options.headers as Record<string, string>).map(([k, v]) => [k.toLowerCase(), v]),
        ),
        body:
          typeof options.body === "string"
            ? options.body
            : options.body
              ? Buffer.from(options.body as Uint8Array).toString()
              : "",
      };
      seen.push(request);
      const { statusCode, data, responseOptions } = answer(request);
      return { statusCode, data: data ?? "", responseOptions: responseOptions ?? {} };
    })
    .persist();
}

beforeEach(() => {
  seen = [];
  agent = new MockAgent();
  agent.disableNetConnect();
  useDispatcher(agent);
});

afterEach(async () => {
  useDispatcher(undefined);
  await agent.close();
});

async function runOneJob(dir: string, frontmatter: Record<string, unknown>, extraEnv: Record<string, string> = {}) {
  writeTestConfig(dir, { retry: { backoff: "0s" } });
  const log = recordingLogger();
  const aq = await createAq({ cwd: dir, env: { ...env, ...extraEnv }, logger: log.logger, by: "test" });
  const text = jobText(frontmatter, `echo ${PROMPT} > /dev/null`);
  const record = await aq.store.create(
    { id: "job-1", text, spec: parseJob(text, "job-1"), origin: { kind: "local" } },
    { by: "test" },
  );
  await aq.lifecycle.created(record, "test");
  await new Runner(aq).run({ mode: "once", concurrency: 1 });
  return { aq, log, queue: aq.store.root };
}

describe("tracker-echo", () => {
  it("posts one comment per transition of a tracker job, in order, with bearer token and product id", async () => {
    tracker();
    const dir = tempDir();
    const { queue } = await runOneJob(dir, { engine: "shell", tracker: "ISSUE-42" });
    expect(stageOf(queue, "job-1")).toBe("review");
    expect(seen.map((r) => `${r.method} ${r.path}`)).toEqual(
      Array(4).fill("POST /api/tracker/items/ISSUE-42/comments"),
    );
    expect(seen.map((r) => JSON.parse(r.body))).toEqual([
      { body: "aq: job job-1 new → queued" },
      { body: "aq: job job-1 queued → assigned" },
      { body: "aq: job job-1 assigned → building" },
      { body: "aq: job job-1 building → review" },
    ]);
    for (const request of seen) {
      expect(request.headers.authorization).toBe(`Bearer ${TOKEN}`);
      expect(request.headers["x-product-id"]).toBe("prod-1");
      expect(request.headers["content-type"]).toMatch(/application\/json/);
    }
  });

  it("makes no request for a job without a tracker item, or when AQ_TRACKER_API is not set", async () => {
    tracker();
    const dir = tempDir();
    const { queue } = await runOneJob(dir, { engine: "shell" });
    expect(stageOf(queue, "job-1")).toBe("review");
    const other = tempDir();
    const second = await runOneJob(other, { engine: "shell", tracker: "ISSUE-1" }, { AQ_TRACKER_API: "" });
    expect(stageOf(second.queue, "job-1")).toBe("review");
    expect(seen).toEqual([]);
  });

  it.each([
    ["answers 500", () => ({ statusCode: 500, data: "boom" }), /answered POST .* with 500/],
    [
      "answers an HTML error page",
      () => ({
        statusCode: 502,
        data: "<html>bad gateway</html>",
        responseOptions: { headers: { "content-type": "text/html" } },
      }),
      /with 502/,
    ],
    [
      "answers 200 with HTML",
      () => ({
        statusCode: 200,
        data: "<html>ok?</html>",
        responseOptions: { headers: { "content-type": "text/html" } },
      }),
      /not JSON \(text\/html/,
    ],
    ["refuses the token", () => ({ statusCode: 401, data: "" }), /with 401 \(check the token/],
  ])(
    "a tracker that %s never fails the job; each failed echo is one warning with the status",
    async (_what, answer, warning) => {
      tracker(answer);
      const dir = tempDir();
      const { queue, log } = await runOneJob(dir, { engine: "shell", tracker: "ISSUE-9" });
      expect(stageOf(queue, "job-1")).toBe("review");
      const warnings = log.lines().filter((line) => line.includes("not delivered"));
      expect(warnings).toHaveLength(4);
      for (const line of warnings) expect(line).toMatch(warning);
    },
  );

  it("a tracker slower than the timeout does not hold the job back past it", async () => {
    // Far slower than the bound below, so a job held back by even one call shows on a busy machine.
    agent
      .get(API)
      .intercept({ path: () => true, method: "POST" })
      .reply(201, "")
      .delay(30_000)
      .persist();
    const dir = tempDir();
    writeTestConfig(dir, { plugins: [["tracker-echo", { timeout: "200ms" }]] });
    const log = recordingLogger();
    const aq = await createAq({ cwd: dir, env, logger: log.logger });
    const text = jobText({ engine: "shell", tracker: "SLOW-1" }, "true");
    const record = await aq.store.create(
      { id: "slow", text, spec: parseJob(text, "slow"), origin: { kind: "local" } },
      { by: "test" },
    );
    await aq.lifecycle.created(record, "test");
    const started = Date.now();
    await new Runner(aq).run({ mode: "once", concurrency: 1 });
    expect(stageOf(aq.store.root, "slow")).toBe("review");
    expect(Date.now() - started).toBeLessThan(25_000);
    expect(log.lines().filter((line) => /did not answer POST .* within 200ms/.test(line))).toHaveLength(4);
  });

  it("never sends the prompt and never logs the token or the prompt", async () => {
    tracker((request) =>
      request.method === "GET"
        ? { statusCode: 200, data: { id: "T-5", title: "t", bodyMd: `echo ${PROMPT}` } }
        : { statusCode: 500 },
    );
    const dir = tempDir();
    const { log, aq } = await runOneJob(dir, { engine: "shell", tracker: "T-5", yolo: true });
    const answer = await aq.hooks.jobSource.promise({ kind: "tracker", ref: "T-5" });
    expect(answer && "input" in answer && answer.input.body).toContain(PROMPT);
    expect(seen.length).toBeGreaterThanOrEqual(5);
    for (const request of seen) {
      expect(request.body).not.toContain(PROMPT);
      expect(request.body).not.toContain(TOKEN);
      expect(request.path).not.toContain(TOKEN);
    }
    const everything = JSON.stringify(log.records);
    expect(everything).not.toContain(TOKEN);
    expect(everything).not.toContain(PROMPT);
    expect(log.lines().length).toBeGreaterThan(0);
  });

  it("leaves the echo of a job to the loaded plugin that declares its origin kind", async () => {
    tracker();
    const dir = tempDir();
    writeFileSync(join(dir, "route.mjs"), `export default { name: "router", origins: ["routed"], apply() {} };\n`);
    writeTestConfig(dir, { plugins: ["./route.mjs"] });
    const aq = await createAq({ cwd: dir, env, logger: recordingLogger().logger });
    const text = jobText({ engine: "shell", tracker: "ISSUE-3" }, "true");
    const record = await aq.store.create(
      { id: "routed", text, spec: parseJob(text, "routed"), origin: { kind: "routed" } },
      { by: "test" },
    );
    await aq.lifecycle.created(record, "test");
    await new Runner(aq).run({ mode: "once", concurrency: 1 });
    expect(stageOf(aq.store.root, "routed")).toBe("review");
    expect(seen).toEqual([]);
  });

  it("reads a tracker item for aq add --from-tracker, validating the answer", async () => {
    tracker((request) => {
      if (request.path === "/api/tracker/items/T-1")
        return {
          statusCode: 200,
          data: {
            id: "T-1",
            title: "Fix the flaky test",
            bodyMd: "---\nengine: shell\npriority: 4\n---\nmake it pass",
          },
        };
      if (request.path === "/api/tracker/items/T-2") return { statusCode: 200, data: { id: "T-2", title: "no body" } };
      return { statusCode: 404 };
    });
    const dir = tempDir();
    writeTestConfig(dir);
    const aq = await createAq({ cwd: dir, env, logger: recordingLogger().logger });
    const good = await aq.hooks.jobSource.promise({ kind: "tracker", ref: "T-1" });
    expect(good).toEqual({
      input: {
        title: "Fix the flaky test",
        body: "---\nengine: shell\npriority: 4\n---\nmake it pass",
        options: { tracker: "T-1" },
        origin: { kind: "tracker", item: "T-1" },
      },
    });
    expect(await aq.hooks.jobSource.promise({ kind: "tracker", ref: "T-2" })).toEqual({
      problem: expect.stringMatching(/unexpected body: bodyMd/),
    });
    expect(await aq.hooks.jobSource.promise({ kind: "tracker", ref: "T-3" })).toEqual({
      problem: expect.stringMatching(/with 404/),
    });
    expect(await aq.hooks.jobSource.promise({ kind: "other", ref: "x" })).toBeUndefined();
    expect(seen.find((r) => r.path === "/api/tracker/items/T-1")?.headers.authorization).toBe(`Bearer ${TOKEN}`);
  });

  it("materializes a tracker job that keeps its own frontmatter and echoes to its item", async () => {
    tracker((request) =>
      request.method === "GET"
        ? {
            statusCode: 200,
            data: { id: 8, title: "Add a changelog", bodyMd: "---\nengine: shell\npriority: 4\n---\necho done" },
          }
        : { statusCode: 201 },
    );
    const dir = tempDir();
    writeTestConfig(dir);
    const aq = await createAq({ cwd: dir, env, logger: recordingLogger().logger });
    const answer = await aq.hooks.jobSource.promise({ kind: "tracker", ref: "T-8" });
    if (!answer || !("input" in answer)) throw new Error("no job from the tracker");
    const { materialize } = await import("../../src/core/materialize.ts");
    const record = await materialize(aq.store, answer.input, { stage: "queued", by: "test" });
    expect(record.id).toMatch(/^add-a-changelog-/);
    const meta = metaOf(aq.store.root, record.id);
    expect(meta).toMatchObject({ priority: 4, tracker: "T-8", origin: { kind: "tracker", item: "T-8" } });
    expect(parseJob((await import("node:fs")).readFileSync(join(record.dir, "job.md"), "utf8"), "x")).toMatchObject({
      engine: "shell",
      tracker: "T-8",
      body: "echo done\n",
    });
  });
});
