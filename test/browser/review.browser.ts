import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT, startAq, waitFor } from "../helpers/cli.ts";
import { startDashboard } from "../helpers/dashboard.ts";
import { gitRepo } from "../helpers/git.ts";
import { groupMembers } from "../helpers/group-members.ts";
import { metaOf, stageOf } from "../helpers/jobs.ts";
import { cliAdd, cliProject, requireBuild } from "../helpers/store-cli.ts";
import { CHROMIUM, CHROMIUM_ARGS } from "./chromium.ts";

/**
 * What a person coming back to the queue judges a job by, in a real chromium: its diff against
 * the base (files with +/−, the patch), its branch and commit, its durations and the log split
 * by attempt; cancel of a building job, checked on the host; the page at 420 px.
 */

requireBuild();

let browser: Browser;

beforeAll(async () => {
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
});

afterAll(async () => {
  await browser?.close();
});

async function openPage(url: string, width = 1440): Promise<Page & { problems: string[] }> {
  const page = await browser.newPage({ viewport: { width, height: 900 } });
  const problems: string[] = [];
  page.on("pageerror", (error) => problems.push(error.message));
  page.on("console", (message) => message.type() === "error" && problems.push(message.text()));
  await page.goto(url);
  await page.locator("#live.on").waitFor();
  return Object.assign(page, { problems });
}

/** A project whose job changes a real repository and lands in review. */
async function reviewedJob() {
  const project = cliProject();
  const repo = gitRepo(join(project.dir, "repo"), {
    "README.md": "# the project\n",
    "src.ts": "export const a = 1;\n",
  });
  await cliAdd(
    project,
    "add-answer",
    { engine: "shell", cwd: repo },
    'echo "working on it"\necho "export const answer = 42;" > answer.ts\necho "export const a = 2;" > src.ts',
  );
  const ran = await project.run(["run", "--once"]);
  expect(ran.code, ran.stderr).toBe(0);
  expect(stageOf(project.queue, "add-answer")).toBe("review");
  return { project, repo };
}

describe("a job's work on the dashboard", () => {
  it("a job in review shows its changed files with +/−, a + line of its patch, its branch and commit, durations and attempt separators", async () => {
    const { project } = await reviewedJob();
    const dashboard = await startDashboard(project.dir);
    const page = await openPage(dashboard.url);
    await page.locator('tr[data-id="add-answer"]').click();
    await page.locator('#detail[data-id="add-answer"] #patch').waitFor({ timeout: 10_000 });

    const files = await page.locator("#diff .files li").allTextContents();
    expect(files).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^\+1 −0\s+answer\.ts$/),
        expect.stringMatching(/^\+1 −1\s+src\.ts$/),
      ]),
    );
    expect(await page.locator("#patch .add").allTextContents()).toContain("+export const answer = 42;\n");
    expect(await page.locator("#patch .del").allTextContents()).toContain("-export const a = 1;\n");
    const meta = metaOf(project.queue, "add-answer");
    expect(await page.locator("#diff-branch").textContent()).toBe("aq/add-answer");
    expect(await page.locator("#diff-commit").textContent()).toBe(meta.wip!.commit.slice(0, 12));

    // Durations from the history, and the log's first attempt as a heading with its time.
    expect(await page.locator("#queue-wait").textContent()).toMatch(/^\d+(ms|s)$/);
    expect(await page.locator("#build-time").textContent()).toMatch(/^\d+(ms|s)$/);
    expect(await page.locator("#durations tr[data-attempt]").count()).toBe(1);
    await expect.poll(() => page.locator("#log").textContent()).toContain("working on it");
    expect(await page.locator('#log .attempt[data-attempt="1"]').textContent()).toMatch(
      /^attempt 1 · shell · started .* ago$/,
    );
    // One time format: relative, the exact time on hover.
    const title = await page.locator("#detail .timeline time").first().getAttribute("title");
    expect(title).toContain(meta.history[0]!.at);
    // No plugin gives this local queue a column: the table has only its own.
    expect(await page.locator("th.c-plugin").count()).toBe(0);
    expect(page.problems).toEqual([]);

    const dir = process.env.AQ_UPDATE_SCREENSHOT ? join(ROOT, "docs") : project.dir;
    mkdirSync(dir, { recursive: true });
    await page.screenshot({ path: join(dir, "dashboard-review.png"), fullPage: true });
  });

  it("fits a 420 px window: nothing overflows sideways, the job and its diff included", async () => {
    const { project } = await reviewedJob();
    const dashboard = await startDashboard(project.dir);
    const page = await openPage(dashboard.url, 420);
    const overflow = () => page.evaluate(() => (globalThis as any).document.documentElement.scrollWidth as number);
    await page.locator('tr[data-id="add-answer"]').waitFor();
    expect(await overflow()).toBeLessThanOrEqual(420);
    await page.locator('tr[data-id="add-answer"]').click();
    await page.locator("#patch").waitFor({ timeout: 10_000 });
    expect(await overflow()).toBeLessThanOrEqual(420);
    expect(await page.locator('#rows tr[data-id="add-answer"] button[data-action="promote"]').isVisible()).toBe(true);
    const dir = process.env.AQ_UPDATE_SCREENSHOT ? join(ROOT, "docs") : project.dir;
    await page.screenshot({ path: join(dir, "dashboard-narrow.png"), fullPage: false });
  });

  it("cancel on a building job kills its process group on the host and puts it back in the queue without counting the attempt", async () => {
    const project = cliProject();
    await cliAdd(project, "long-one", { engine: "shell" }, 'echo "started"\nsleep 300 &\nwait');
    const runner = startAq(["run", "--once"], { cwd: project.dir, timeoutMs: 60_000 });
    const pgid = await waitFor(
      () => stageOf(project.queue, "long-one") === "building" && metaOf(project.queue, "long-one").engine?.pgid,
      15_000,
      "the engine's process group in meta",
    );
    // The group is recorded before the engine runs: wait for sh and its sleep to be in it.
    await waitFor(() => groupMembers(pgid).length >= 2, 15_000, "sh and its sleep in the engine's group");

    const dashboard = await startDashboard(project.dir);
    const page = await openPage(dashboard.url);
    page.on("dialog", (dialog) => void dialog.accept());
    const row = page.locator('tr[data-id="long-one"][data-stage="building"]');
    await row.waitFor({ timeout: 10_000 });
    await row.locator('button[data-action="cancel"]').click();
    await page.locator('tr[data-id="long-one"][data-stage="queued"]').waitFor({ timeout: 15_000 });

    expect(groupMembers(pgid)).toEqual([]);
    const meta = metaOf(project.queue, "long-one");
    expect(meta.attempts).toBe(0);
    expect(meta.history.at(-1)).toMatchObject({
      from: "building",
      to: "queued",
      reason: "cancelled by cli:dashboard; the attempt does not count",
    });
    expect(meta.engine).toBeUndefined();
    const ran = await runner.exited;
    expect(ran.code, ran.stderr).toBe(0);
    expect(page.problems).toEqual([]);
  });
});
