import { appendFileSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { aq, ROOT } from "../helpers/cli.ts";
import { readEvents, startDashboard, writeManyJobs } from "../helpers/dashboard.ts";
import { jobText, metaOf, stageOf } from "../helpers/jobs.ts";
import { cliAdd, cliProject, expectOneLine, requireBuild, storeOf } from "../helpers/store-cli.ts";
import { addJob } from "../helpers/store-fixtures.ts";
import { tempDir } from "../helpers/temp.ts";

/** `aq dashboard` as a real process over loopback HTTP: its routes, its guard, its events. */

requireBuild();

/** A project whose queue holds a job parked in `stage` (moved there the way aq would). */
async function projectWith(
  jobs: Array<{ id: string; stage: "queued" | "failed" | "blocked" | "quarantine"; reason?: string }>,
) {
  const project = cliProject();
  const store = await storeOf(project.queue);
  for (const job of jobs) {
    await addJob(store, job.id);
    if (job.stage !== "queued")
      await store.move(job.id, "queued", job.stage, { by: "test", reason: job.reason ?? `${job.stage} for the test` });
  }
  return project;
}

describe("aq dashboard: start and stop", () => {
  it("prints its URL as the first line on stdout, serves the page with its token, and exits 0 on SIGTERM", async () => {
    const project = cliProject();
    const dashboard = await startDashboard(project.dir);

    expect(dashboard.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const page = await dashboard.get("/");
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toMatch(/^text\/html/);
    expect(page.headers.get("content-security-policy")).toContain("script-src 'self'");
    expect(page.text).toMatch(/<meta name="aq-token" content="[A-Za-z0-9_-]{32}">/);
    // Everything the page loads is served by aq itself: no other host is named. Its script is the
    // build's ES modules, loaded by their relative imports; the stage table is the core's own module.
    const entry = /<script type="module" src="(\/js\/[^"]+\.js)"><\/script>/.exec(page.text)?.[1];
    expect(entry).toBe("/js/dashboard/page/app/main.js");
    const modules = new Map<string, string>();
    const pending = [entry!];
    while (pending.length) {
      const path = pending.pop()!;
      if (modules.has(path)) continue;
      const module = await dashboard.get(path);
      expect(module.status, path).toBe(200);
      expect(module.headers.get("content-type")).toMatch(/^text\/javascript/);
      modules.set(path, module.text);
      for (const [, specifier] of module.text.matchAll(/\bfrom "([^"]+)"/g))
        pending.push(new URL(specifier!, `http://page${path}`).pathname);
    }
    expect([...modules.keys()]).toContain("/js/core/stages.js");
    const copies = [...modules].filter(
      ([path, text]) => path !== "/js/core/stages.js" && text.includes('"dead_letter"'),
    );
    expect(copies.map(([path]) => path)).toEqual([]);
    expect((await dashboard.get("/js/core/runner.js")).status).toBe(404); // only the page's own modules
    expect((await dashboard.get("/app.js")).status).toBe(404);
    const style = await dashboard.get("/app.css");
    expect(style.status).toBe(200);
    for (const text of [page.text, style.text, ...modules.values()])
      expect(text.replace(/http:\/\/www\.w3\.org\/2000\/svg/g, "")).not.toMatch(/https?:\/\//);

    const stopped = await dashboard.stop();
    expect(stopped.code, stopped.stderr).toBe(0);
    expect(stopped.stdout).toBe(`${dashboard.url}\n`);
  });

  it("refuses to bind beyond loopback without AQ_DASHBOARD_TOKEN, and a bad port or host, with one line and exit 2", async () => {
    const project = cliProject();
    const open = await aq(["dashboard", "--host", "0.0.0.0", "--port", "0"], { cwd: project.dir });
    expect(open.code).toBe(2);
    expect(expectOneLine(open.stderr)).toBe(
      "aq dashboard: binding to 0.0.0.0 (beyond loopback) needs a token: set AQ_DASHBOARD_TOKEN",
    );
    expect(open.stdout).toBe("");
    for (const args of [
      ["--port", "70000"],
      ["--port", "http"],
      ["--host", "not a host"],
    ]) {
      const bad = await aq(["dashboard", ...args], { cwd: project.dir });
      expect(bad.code, bad.stderr).toBe(2);
      expect(expectOneLine(bad.stderr)).toMatch(/^aq dashboard: --(port|host) must be/);
    }
    const help = await aq(["dashboard", "--help"], { cwd: project.dir });
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("AQ_DASHBOARD_TOKEN");
    expect(help.stdout).toContain("--port");
  });
});

describe("aq dashboard: the guard", () => {
  it("refuses an action without the page's token, without a JSON body or from another origin (403), and leaves the job alone", async () => {
    const project = await projectWith([{ id: "job-1", stage: "failed" }]);
    const dashboard = await startDashboard(project.dir);
    const token = await dashboard.token();
    const json = { "content-type": "application/json" };

    const refused = [
      await dashboard.post("/api/jobs/job-1/retry", {}, json),
      await dashboard.post("/api/jobs/job-1/retry", {}, { ...json, "x-aq-token": "not-the-token" }),
      await dashboard.post("/api/jobs/job-1/retry", "{}", { "content-type": "text/plain", "x-aq-token": token }),
      await dashboard.post(
        "/api/jobs/job-1/retry",
        {},
        { ...json, "x-aq-token": token, origin: "https://evil.example" },
      ),
    ];
    // A name rebound to 127.0.0.1 by another site (fetch cannot set Host, node:http can).
    const rebound = await new Promise<number>((resolve, reject) =>
      request(`${dashboard.url}api/summary`, { headers: { host: "evil.example" } }, (response) =>
        resolve(response.statusCode ?? 0),
      )
        .on("error", reject)
        .end(),
    );

    expect([...refused.map((answer) => answer.status), rebound]).toEqual([403, 403, 403, 403, 403]);
    expect(refused[0]!.body.error).toBe("actions need the page's token in the x-aq-token header");
    expect(stageOf(project.queue, "job-1")).toBe("failed");
    const allowed = await dashboard.post(
      "/api/jobs/job-1/retry",
      {},
      { ...json, "x-aq-token": token, origin: dashboard.url.replace(/\/$/, "") },
    );
    expect(allowed.status, allowed.text).toBe(200);
    expect(stageOf(project.queue, "job-1")).toBe("queued");
  });

  it("beyond loopback asks AQ_DASHBOARD_TOKEN of every request: bearer, or ?token= once, which sets an HttpOnly SameSite=Strict cookie", async () => {
    const project = await projectWith([{ id: "job-1", stage: "queued" }]);
    const secret = "dash-SECRET-7f3a";
    const dashboard = await startDashboard(project.dir, {
      args: ["--host", "0.0.0.0"],
      env: { AQ_DASHBOARD_TOKEN: secret },
    });

    expect(dashboard.url).toMatch(/^http:\/\/0\.0\.0\.0:\d+\/$/);
    expect((await dashboard.get("/")).status).toBe(401);
    expect((await dashboard.get("/api/summary")).status).toBe(401);
    expect((await dashboard.get("/api/summary", { authorization: "Bearer wrong" })).status).toBe(401);
    expect((await dashboard.get("/api/summary", { authorization: `Bearer ${secret}` })).status).toBe(200);
    const entry = await dashboard.get(`/?token=${secret}`);
    expect(entry.status).toBe(303);
    expect(entry.headers.get("location")).toBe("/");
    const cookie = entry.headers.get("set-cookie")!;
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    const page = await dashboard.get("/", { cookie: cookie.split(";")[0]! });
    expect(page.status).toBe(200);
    // The prompt of a job is shown only on loopback.
    const job = await dashboard.get("/api/jobs/job-1", { authorization: `Bearer ${secret}` });
    expect(job.body).toMatchObject({ id: "job-1", stage: "queued" });
    expect(job.body.prompt).toBeUndefined();
    const stopped = await dashboard.stop();
    expect(stopped.stderr).not.toContain(secret);
    expect(stopped.stdout).not.toContain(secret);
  });
});

describe("aq dashboard: routes", () => {
  it("answers 404 for unknown routes and jobs, 405 for a wrong method, 400 for a bad id or query", async () => {
    const project = await projectWith([{ id: "job-1", stage: "queued" }]);
    const dashboard = await startDashboard(project.dir);

    expect((await dashboard.get("/nope")).status).toBe(404);
    expect((await dashboard.get("/api/jobs/nobody")).status).toBe(404);
    expect((await dashboard.post("/api/jobs/nobody/retry")).status).toBe(404);
    const wrong = await dashboard.post("/api/summary");
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get("allow")).toBe("GET");
    expect((await dashboard.get("/api/jobs/job-1/retry")).status).toBe(405);
    expect((await dashboard.get("/api/jobs/..%2Fetc")).status).toBe(400);
    expect((await dashboard.get("/api/jobs/bad%20id/log")).status).toBe(400);
    const badStage = await dashboard.get("/api/jobs?stage=sideways");
    expect(badStage.status).toBe(400);
    expect(badStage.body.error).toBe("bad request: stage: must be a stage, active or all");
    expect((await dashboard.get("/api/jobs?limit=0")).status).toBe(400);
    expect((await dashboard.get("/api/jobs?offset=-1")).status).toBe(400);
    expect((await dashboard.post("/api/jobs/job-1/block", { reason: "  " })).status).toBe(400);
    expect(stageOf(project.queue, "job-1")).toBe("queued");
  });

  it("pages 3,000 jobs with quarantined and blocked first, filters by stage and text, and every page is disjoint", async () => {
    const project = cliProject();
    const ids = writeManyJobs(project.queue, 3000);
    const dashboard = await startDashboard(project.dir);

    const summary = (await dashboard.get("/api/summary")).body;
    expect(summary.counts).toMatchObject({ queued: 375, quarantine: 375, blocked: 375, shipped: 375 });
    expect(summary.total).toBe(3000);
    expect(summary.jobs).toBeUndefined();

    const seen: string[] = [];
    for (let offset = 0; ; offset += 500) {
      const page = (await dashboard.get(`/api/jobs?stage=all&offset=${offset}&limit=500`)).body;
      expect(page.total).toBe(3000);
      seen.push(...page.jobs.map((job: { id: string; stage: string }) => `${job.stage}:${job.id}`));
      if (page.jobs.length < 500) break;
    }
    expect(seen).toHaveLength(3000);
    expect(new Set(seen).size).toBe(3000);
    expect(seen.slice(0, 375).every((row) => row.startsWith("quarantine:"))).toBe(true);
    expect(seen.slice(375, 750).every((row) => row.startsWith("blocked:"))).toBe(true);

    const active = (await dashboard.get("/api/jobs")).body;
    expect(active.total).toBe(3000 - 375);
    expect(active.jobs).toHaveLength(50);
    expect(active.jobs[0]).toMatchObject({
      stage: "quarantine",
      engine: "shell",
      attempts: 1,
      origin: { kind: "local" },
      reason: expect.stringMatching(/^reason of /),
    });

    const failed = (await dashboard.get("/api/jobs?stage=failed&limit=500")).body;
    expect(failed.total).toBe(375);
    expect(failed.jobs.map((job: { id: string }) => job.id)).toEqual(ids.failed!.slice(0, 375));
    const one = (await dashboard.get(`/api/jobs?stage=all&q=${ids.blocked![7]}`)).body;
    expect(one.jobs.map((job: { id: string }) => job.id)).toEqual([ids.blocked![7]]);
  });

  it("shows a job's meta, history, agent and prompt, and tails its log from a byte offset", async () => {
    const project = await projectWith([{ id: "job-1", stage: "failed", reason: "exit 1" }]);
    const store = await storeOf(project.queue);
    await store.update("job-1", "failed", (meta) => ({
      ...meta,
      agent: { name: "claude", sessionId: "s-1", turns: 3, costUsd: 0.012, lastActivityAt: new Date().toISOString() },
    }));
    const log = join(project.queue, "failed", "job-1", "log.txt");
    writeFileSync(log, "first line\n");
    const dashboard = await startDashboard(project.dir);

    const job = (await dashboard.get("/api/jobs/job-1")).body;
    expect(job).toMatchObject({
      id: "job-1",
      stage: "failed",
      engine: "claude",
      agent: { sessionId: "s-1", turns: 3 },
      logSize: 11,
      meta: { reason: "exit 1" },
    });
    expect(job.meta.history.map((entry: { to: string }) => entry.to)).toEqual(["queued", "failed"]);
    expect(job.prompt).toBe(jobText({ engine: "shell" }, "echo hi"));
    const row = (await dashboard.get("/api/jobs?stage=failed")).body.jobs[0];
    expect(row).toMatchObject({ id: "job-1", engine: "claude", lastActivityAt: expect.any(String) });

    expect((await dashboard.get("/api/jobs/job-1/log")).body).toEqual({
      id: "job-1",
      stage: "failed",
      from: 0,
      to: 11,
      size: 11,
      text: "first line\n",
    });
    appendFileSync(log, "second line\n");
    expect((await dashboard.get("/api/jobs/job-1/log?from=11")).body).toMatchObject({
      from: 11,
      to: 23,
      size: 23,
      text: "second line\n",
    });
    expect((await dashboard.get("/api/jobs/job-1/log?from=23")).body).toMatchObject({ from: 23, to: 23, text: "" });
  });

  it("names each row's engine from its frontmatter (plain, quoted or absent: the config's default) without parsing it twice", async () => {
    const project = cliProject({ defaults: { engine: "devin", timeout: "60s" } });
    const store = await storeOf(project.queue);
    await addJob(store, "plain", { engine: "shell", priority: 3 });
    await addJob(store, "quoted", { engine: '"gemini"  # a comment', priority: 2 });
    await addJob(store, "none", { priority: 1 });
    const dashboard = await startDashboard(project.dir);

    const rows = (await dashboard.get("/api/jobs?stage=queued")).body.jobs as Array<{ id: string; engine: string }>;

    expect(Object.fromEntries(rows.map((row) => [row.id, row.engine]))).toEqual({
      plain: "shell",
      quoted: "gemini",
      none: "devin",
    });
  });
});

describe("aq dashboard: live and actions", () => {
  it("sends a change event after `aq add` in another process, and the job is on the first page", async () => {
    const project = cliProject();
    const dashboard = await startDashboard(project.dir);
    let added: Promise<string> | undefined;
    // The job is added once the stream is open (its hello has arrived).
    const seen = await readEvents(`${dashboard.url}api/events`, (event) => {
      if (event.event === "hello") added = cliAdd(project, "from-cli");
      return event.event === "change" && event.data.counts.queued === 1;
    });
    await added;

    expect(seen[0]).toMatchObject({ event: "hello" });
    expect(seen.at(-1)).toMatchObject({ event: "change", data: { counts: { queued: 1 } } });
    const page = (await dashboard.get("/api/jobs")).body;
    expect(page.jobs.map((job: { id: string }) => job.id)).toEqual(["from-cli"]);
  });

  it("sends a job event while a running job writes its log, and serves the whole log once it is done", async () => {
    const project = cliProject();
    const dashboard = await startDashboard(project.dir);
    await cliAdd(project, "chatty", { engine: "shell" }, "echo one\nsleep 1\necho two\nsleep 1\necho three");
    let run: ReturnType<typeof project.run> | undefined;
    const seen = await readEvents(
      `${dashboard.url}api/events`,
      (event) => {
        if (event.event === "hello") run = project.run(["run", "--once"]);
        return event.event === "job" && event.data.id === "chatty";
      },
      20_000,
    );

    expect(seen.at(-1)).toEqual({ event: "job", data: { id: "chatty" } });
    expect((await run!).code).toBe(0);
    const log = (await dashboard.get("/api/jobs/chatty/log")).body;
    // The runner heads each attempt with one separator line (when it started, which engine).
    expect(log).toMatchObject({
      stage: "review",
      from: 0,
      text: expect.stringMatching(/^──── aq · attempt 1 · \S+Z · engine shell ────\none\ntwo\nthree\n$/),
    });
  });

  it("retries a failed job through the same code as aq retry (history by cli:dashboard), and answers 409 with the CLI's message when it cannot", async () => {
    const project = await projectWith([{ id: "job-1", stage: "failed" }]);
    const dashboard = await startDashboard(project.dir);

    const retried = await dashboard.post("/api/jobs/job-1/retry");
    expect(retried.status, retried.text).toBe(200);
    expect(retried.body).toEqual({ ok: true, id: "job-1", action: "retry", stage: "queued" });
    expect(stageOf(project.queue, "job-1")).toBe("queued");
    expect(metaOf(project.queue, "job-1").history.at(-1)).toMatchObject({
      from: "failed",
      to: "queued",
      by: "cli:dashboard",
      reason: "retried by a person (was failed: failed for the test)",
    });

    const again = await dashboard.post("/api/jobs/job-1/retry");
    expect(again.status).toBe(409);
    expect(again.body).toEqual({
      code: "AQ_CONFLICT",
      error: "job job-1 is in queued/; only failed, blocked, dead_letter or quarantine jobs can be retried",
    });
    const blocked = await dashboard.post("/api/jobs/job-1/block", { reason: "waiting for the API key" });
    expect(blocked.body).toMatchObject({ ok: true, stage: "blocked" });
    expect(metaOf(project.queue, "job-1")).toMatchObject({ stage: "blocked", reason: "waiting for the API key" });
  });

  it("ships only as aq ship does: a beforeShip veto answers 422 with the plugin's reason and the job stays in review", async () => {
    const dir = tempDir();
    const queue = join(dir, "queue");
    const config = join(ROOT, "test", "fixtures", "ship-veto", "aq.config.ts");
    const env = { AQ_QUEUE_DIR: queue };
    writeFileSync(join(dir, "job-1.md"), jobText({ engine: "shell" }, "true"));
    expect((await aq(["add", "job-1.md", "--id", "job-1", "--config", config], { cwd: dir, env })).code).toBe(0);
    const ran = await aq(["run", "--once", "--config", config], { cwd: dir, env });
    expect(ran.code, ran.stderr).toBe(0);
    expect(stageOf(queue, "job-1")).toBe("review");
    const dashboard = await startDashboard(dir, { args: ["--config", config], env });

    const refused = await dashboard.post("/api/jobs/job-1/ship", { force: true });
    expect(refused.status).toBe(422);
    expect(refused.body).toEqual({
      code: "AQ_FAILED",
      error: "ship of job-1 refused: the lease of job-1 is stale (force=true)",
    });
    expect(stageOf(queue, "job-1")).toBe("review");
    const unforced = await dashboard.post("/api/jobs/job-1/ship", {});
    expect(unforced.status).toBe(409);
    expect(unforced.body.error).toBe(
      "job job-1 is in review/; only a job in testing/ can be shipped (promote it first, or ship with --force)",
    );
  });
});
