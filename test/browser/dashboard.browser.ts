import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT } from "../helpers/cli.ts";
import { startDashboard, writeManyJobs } from "../helpers/dashboard.ts";
import { metaOf, stageOf } from "../helpers/jobs.ts";
import { cliAdd, cliProject, requireBuild, storeOf } from "../helpers/store-cli.ts";
import { newJob } from "../helpers/store-fixtures.ts";
import { CHROMIUM, CHROMIUM_ARGS } from "./chromium.ts";

/**
 * The dashboard in Debian's chromium, driven by playwright-core: the CLI changes the queue in
 * other processes and the page follows by itself (no reload); a click on retry requeues a job;
 * actions need the page's token. The last test takes the README's screenshot (docs/dashboard.png
 * when AQ_UPDATE_SCREENSHOT=1).
 */

requireBuild();

let browser: Browser;

beforeAll(async () => {
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
});

afterAll(async () => {
  await browser?.close();
});

/** Opens the dashboard and waits until its event stream is live; marks the window to detect a reload. */
async function openPage(url: string): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  const problems: string[] = [];
  page.on("pageerror", (error) => problems.push(error.message));
  page.on("console", (message) => message.type() === "error" && problems.push(message.text()));
  await page.goto(url);
  await page.locator("#live.on").waitFor();
  await page.evaluate(() => ((globalThis as { loadedOnce?: boolean }).loadedOnce = true));
  return Object.assign(page, { problems });
}

const notReloaded = (page: Page) => page.evaluate(() => (globalThis as { loadedOnce?: boolean }).loadedOnce === true);

/** Records every stage the page shows for a job's row, in order (a MutationObserver in the page). */
async function recordStages(page: Page, id: string): Promise<() => Promise<string[]>> {
  // The callback runs in the page (DOM globals), not in Node: reached through globalThis.
  await page.evaluate((jobId) => {
    const dom = globalThis as any;
    const seen: string[] = [];
    dom.stagesSeen = seen;
    const note = () => {
      const stage = dom.document.querySelector(`tr[data-id="${jobId}"]`)?.getAttribute("data-stage");
      if (stage && seen.at(-1) !== stage) seen.push(stage);
    };
    new dom.MutationObserver(note).observe(dom.document.getElementById("rows"), {
      childList: true,
      subtree: true,
      attributes: true,
    });
  }, id);
  return () => page.evaluate(() => (globalThis as any).stagesSeen as string[]);
}

describe("the dashboard in a real browser", () => {
  it("shows a job added with aq add and follows it to review without a reload; retry on a failed job requeues it", async () => {
    const project = cliProject();
    const dashboard = await startDashboard(project.dir);
    const page = await openPage(dashboard.url);
    await expect.poll(() => page.locator("#count-queued b").textContent()).toBe("0");
    const stages = await recordStages(page, "hello");

    await cliAdd(project, "hello", { engine: "shell" }, 'echo "hello from aq"\nsleep 1.5\necho done > hello.txt');
    await page.locator('tr[data-id="hello"][data-stage="queued"]').waitFor({ timeout: 10_000 });
    await expect.poll(() => page.locator("#count-queued b").textContent()).toBe("1");
    const ran = await project.run(["run", "--once"]);
    expect(ran.code, ran.stderr).toBe(0);
    await page.locator('tr[data-id="hello"][data-stage="review"]').waitFor({ timeout: 10_000 });

    expect(await stages()).toEqual(expect.arrayContaining(["queued", "building", "review"]));
    const order = (await stages()).filter((stage) => ["queued", "building", "review"].includes(stage));
    expect(order).toEqual(["queued", "building", "review"]);
    expect(await notReloaded(page)).toBe(true);

    // Its detail: the history as a timeline and its log.
    await page.locator('tr[data-id="hello"]').click();
    await page.locator('#detail[data-id="hello"][data-stage="review"]').waitFor();
    expect(await page.locator("#detail .timeline li").allTextContents()).toEqual([
      expect.stringContaining("· → queued"),
      expect.stringContaining("queued → assigned"),
      expect.stringContaining("assigned → building"),
      expect.stringContaining("building → review"),
    ]);
    await expect.poll(() => page.locator("#log").textContent()).toContain("hello from aq");

    // A job that cannot run as written (its cwd is missing) rests in failed/; retry on the page requeues it.
    // aq add checks that the cwd exists: it goes away after the add, as a person's checkout might.
    const gone = join(project.dir, "no-such-dir");
    mkdirSync(gone);
    await cliAdd(project, "broken", { engine: "shell", cwd: gone }, "true");
    rmSync(gone, { recursive: true });
    const failed = await project.run(["run", "--once"]);
    expect(failed.code, failed.stderr).toBe(0);
    expect(stageOf(project.queue, "broken")).toBe("failed");
    const row = page.locator('tr[data-id="broken"][data-stage="failed"]');
    await row.waitFor({ timeout: 10_000 });
    await row.locator('button[data-action="retry"]').click();
    await page.locator('tr[data-id="broken"][data-stage="queued"]').waitFor({ timeout: 10_000 });
    const status = JSON.parse((await project.run(["status", "--json"])).stdout) as {
      jobs: Array<{ id: string; stage: string; attempts: number }>;
    };
    expect(status.jobs.find((job) => job.id === "broken")).toMatchObject({ stage: "queued", attempts: 0 });
    expect(metaOf(project.queue, "broken").history.at(-1)).toMatchObject({
      from: "failed",
      to: "queued",
      by: "cli:dashboard",
    });
    expect(await page.locator("#toast").textContent()).toBe("broken: retry → queued");
    expect(await notReloaded(page)).toBe(true);
    expect((page as Page & { problems: string[] }).problems).toEqual([]);
  });

  it("refuses an action sent without the page's token (403), from the page's own origin too", async () => {
    const project = cliProject();
    const store = await storeOf(project.queue);
    await store.create(newJob("stuck"), { by: "test" });
    await store.move("stuck", "queued", "failed", { by: "test", reason: "exit 1" });
    const dashboard = await startDashboard(project.dir);
    const page = await openPage(dashboard.url);

    const answers = await page.evaluate(async () => {
      const post = (headers: Record<string, string>) =>
        fetch("/api/jobs/stuck/retry", { method: "POST", headers, body: "{}" }).then((r) => r.status);
      const token = (globalThis as any).document
        .querySelector('meta[name="aq-token"]')
        .getAttribute("content") as string;
      return {
        none: await post({ "content-type": "application/json" }),
        wrong: await post({ "content-type": "application/json", "x-aq-token": "guess" }),
        form: await post({ "content-type": "text/plain", "x-aq-token": token }),
      };
    });

    expect(answers).toEqual({ none: 403, wrong: 403, form: 403 });
    expect(stageOf(project.queue, "stuck")).toBe("failed");
  });

  it("paints the first 50 of 10,000 jobs quickly and pages through them", async () => {
    const project = cliProject();
    writeManyJobs(project.queue, 10_000);
    const dashboard = await startDashboard(project.dir);
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });

    const started = Date.now();
    await page.goto(dashboard.url);
    await page.locator("#rows tr[data-id]").nth(49).waitFor();
    const firstPaintMs = Date.now() - started;
    // From the navigation's start to the first rows in the DOM, as the page itself measured it.
    const inPage = await page.evaluate(
      () => (globalThis as any).performance.getEntriesByName("aq-first-rows")[0].startTime as number,
    );
    process.stderr.write(
      `dashboard: 50 rows of 10,000 jobs in the DOM ${inPage.toFixed(0)} ms after navigation (${firstPaintMs} ms from goto, new tab included)\n`,
    );

    expect(firstPaintMs).toBeLessThan(3000);
    expect(await page.locator("#range").textContent()).toBe("1–50 of 8,750");
    expect(await page.locator("#rows tr[data-id]").first().getAttribute("data-stage")).toBe("quarantine");
    await page.locator("#next").click();
    await expect.poll(() => page.locator("#range").textContent()).toBe("51–100 of 8,750");
    await page.locator("#stage").selectOption("failed");
    await expect.poll(() => page.locator("#range").textContent()).toBe("1–50 of 1,250");
    expect(
      new Set(
        await page
          .locator("#rows tr[data-id]")
          .evaluateAll((rows) => rows.map((row) => row.getAttribute("data-stage"))),
      ),
    ).toEqual(new Set(["failed"]));
  });

  it("draws a third-party plugin's panel, its column and its badge from the generic shapes; a panel row opens its job", async () => {
    const plugin = join(ROOT, "test", "fixtures", "plugin-contributions", "review-clock.ts");
    const project = cliProject({ plugins: [["tracker-echo", false], plugin] });
    const store = await storeOf(project.queue);
    await store.create(newJob("hotfix", { engine: "shell", priority: 7 }), { by: "test" });
    await store.create(newJob("chore", { engine: "shell" }), { by: "test" });
    const dashboard = await startDashboard(project.dir);
    const page = await openPage(dashboard.url);

    const panel = page.locator('[data-panel="review-clock"]');
    await panel.waitFor();
    expect(await panel.locator("h2").textContent()).toBe("Review clock");
    expect(await panel.locator('[data-fact="urgent"] b').textContent()).toBe("1");
    expect(await panel.locator('[data-fact="urgent"] b').getAttribute("class")).toBe("warn");
    expect(await panel.locator("thead th").allTextContents()).toEqual(["job", "stage", "priority"]);
    expect(await panel.locator("tbody td").allTextContents()).toEqual(["hotfix", "queued", "7"]);
    expect(await panel.locator("tbody .stage.s-queued").count()).toBe(1);

    // The plugin's column sits before the reason; its badge beside the job's id.
    const headers = await page.locator("#head th").allTextContents();
    expect(headers.slice(headers.indexOf("origin"), headers.indexOf("reason") + 1)).toEqual([
      "origin",
      "tier",
      "reason",
    ]);
    expect(await page.locator('tr[data-id="hotfix"] td[data-column="tier"]').textContent()).toBe("urgent");
    expect(await page.locator('tr[data-id="chore"] td[data-column="tier"]').textContent()).toBe("normal");
    expect(await page.locator('tr[data-id="hotfix"] td.id .badge').allTextContents()).toEqual(["urgent"]);
    expect(await page.locator('tr[data-id="chore"] td.id .badge').count()).toBe(0);

    await panel.locator("tbody tr").click();
    await page.locator('#detail[data-id="hotfix"]').waitFor();
    expect(await page.locator("#detail .facts").first().textContent()).toContain("tier urgent");
    expect((page as Page & { problems: string[] }).problems).toEqual([]);
  });

  // Written to docs/ (the README's picture) only when asked, so a test run leaves the tree clean.
  it("writes a screenshot of a busy queue (docs/dashboard.png with AQ_UPDATE_SCREENSHOT=1)", async () => {
    const project = cliProject();
    const store = await storeOf(project.queue);
    const seed = async (
      id: string,
      to: "queued" | "review" | "failed" | "blocked" | "quarantine" | "shipped" | "testing",
      reason?: string,
      fleet?: { jobId: string; leaseEpoch: number },
    ) => {
      const job = newJob(id, { engine: "shell" }, "echo hi");
      await store.create(
        fleet ? { ...job, origin: { kind: "fleet" }, extra: { fleet: { ...fleet, factoryId: "factory-b" } } } : job,
        { by: "test" },
      );
      const path: Record<
        string,
        Array<"assigned" | "building" | "review" | "testing" | "shipped" | "failed" | "blocked" | "quarantine">
      > = {
        queued: [],
        review: ["assigned", "building", "review"],
        testing: ["assigned", "building", "review", "testing"],
        shipped: ["assigned", "building", "review", "testing", "shipped"],
        failed: ["failed"],
        blocked: ["blocked"],
        quarantine: ["assigned", "building", "review", "quarantine"],
      };
      let from: Parameters<typeof store.move>[1] = "queued";
      for (const stage of path[to]!) {
        await store.move(id, from, stage, { by: "runner:4242", ...(stage === to && reason ? { reason } : {}) });
        from = stage;
      }
    };
    await seed("fleet-J7-e2", "quarantine", "stale lease: the coordinator answered 409 (epoch 3 holds it)", {
      jobId: "J7",
      leaseEpoch: 2,
    });
    await seed("refactor-auth", "blocked", "AQ_BLOCKED: needs the staging API key");
    await seed("fix-flaky-test", "review");
    await seed("bump-deps", "testing");
    await seed("docs-typos", "shipped");
    await seed("migrate-db", "failed", "engine exited 1 after 4m 12s");
    for (const id of ["add-metrics", "split-config", "cache-warmup"]) await seed(id, "queued");
    const dashboard = await startDashboard(project.dir);
    const page = await openPage(dashboard.url);
    await cliAdd(
      project,
      "write-changelog",
      { engine: "shell", priority: 5 },
      'echo "reading the git log…"\necho "3 entries written to CHANGELOG.md"',
    );
    expect((await project.run(["run", "--once"])).code).toBe(0);
    await page.locator('tr[data-id="write-changelog"][data-stage="review"]').waitFor({ timeout: 10_000 });
    await page.locator('tr[data-id="write-changelog"]').click();
    await expect.poll(() => page.locator("#log").textContent()).toContain("3 entries written");

    const dir = process.env.AQ_UPDATE_SCREENSHOT ? join(ROOT, "docs") : project.dir;
    mkdirSync(dir, { recursive: true });
    const png = await page.screenshot({ path: join(dir, "dashboard.png"), fullPage: true });
    expect(png.subarray(1, 4).toString("latin1")).toBe("PNG");
    expect(png.length).toBeGreaterThan(20_000);
  });
});
