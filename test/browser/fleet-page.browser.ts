import { mkdirSync } from "node:fs";
import { get } from "node:http";
import { join } from "node:path";
import { type Browser, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { startCoordinator } from "../../src/coordinator/server.ts";
import { ROOT, waitFor } from "../helpers/cli.ts";
import { tempDir } from "../helpers/temp.ts";
import { CHROMIUM, CHROMIUM_ARGS } from "./chromium.ts";

/**
 * The coordinator's own page in chromium: the factories that sent heartbeats, the leases they
 * hold, the fleet's jobs by stage with their epochs, and a job's runs and events as a timeline
 * after another factory reclaimed it. Everything goes through the real HTTP contract.
 */

let browser: Browser;

beforeAll(async () => {
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
});

afterAll(async () => {
  await browser?.close();
});

async function fleet(leaseMs: number) {
  const coordinator = await startCoordinator({ port: 0, host: "127.0.0.1", db: ":memory:", leaseMs });
  onTestFinished(() => coordinator.close());
  const call = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${coordinator.api}${path}`, {
      method,
      headers: { "content-type": "application/json", authorization: `Bearer ${coordinator.token}` },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : undefined };
  };
  const heartbeat = (factoryId: string, load = 0) =>
    call("POST", "/fleet/factories/heartbeat", {
      factoryId,
      capabilities: ["os:linux", "engine:shell", "git"],
      health: "ok",
      load,
    });
  return { coordinator, call, heartbeat };
}

describe("the coordinator's fleet page", () => {
  it("lists two factories with their leases, the jobs by stage with epochs, and a job's timeline after a reclaim", async () => {
    const { coordinator, call, heartbeat } = await fleet(400);
    await heartbeat("factory-a", 0.5);
    await heartbeat("factory-b");
    expect(
      (
        await call("POST", "/dev/jobs", {
          id: "reclaimed-job",
          bodyMd: "---\nengine: shell\n---\necho secret-prompt-text\n",
        })
      ).status,
    ).toBe(201);
    expect(
      (
        await call("POST", "/dev/jobs", {
          id: "waiting-job",
          bodyMd: "echo later\n",
          requires: ["engine:nothing-has-this"],
        })
      ).status,
    ).toBe(201);

    const first = await call("POST", "/fleet/claim", {
      factoryId: "factory-a",
      capabilities: ["os:linux", "engine:shell", "git"],
    });
    expect(first.body).toMatchObject({ job: { id: "reclaimed-job" }, leaseEpoch: 1 });
    expect((await call("PATCH", "/fleet/jobs/reclaimed-job", { stage: "building", leaseEpoch: 1 })).status).toBe(200);
    // factory-a goes silent; its lease runs out and factory-b takes the job under epoch 2.
    const second = await waitFor(
      async () => {
        const claim = await call("POST", "/fleet/claim", {
          factoryId: "factory-b",
          capabilities: ["os:linux", "engine:shell", "git"],
        });
        return claim.status === 200 ? claim : undefined;
      },
      10_000,
      "the reclaim",
    );
    expect(second.body).toMatchObject({ job: { id: "reclaimed-job" }, leaseEpoch: 2 });
    expect((await call("PATCH", "/fleet/jobs/reclaimed-job", { stage: "building", leaseEpoch: 2 })).status).toBe(200);
    expect((await call("PATCH", "/fleet/jobs/reclaimed-job", { stage: "review", leaseEpoch: 1 })).status).toBe(409); // the zombie's late report

    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const problems: string[] = [];
    page.on("pageerror", (error) => problems.push(error.message));
    await page.goto(`${coordinator.url}/`);
    await page.locator("#live.on").waitFor();
    await page.locator('#factories tr[data-factory="factory-b"]').waitFor();
    expect(
      await page
        .locator("#factories tr[data-factory]")
        .evaluateAll((rows) => rows.map((row) => row.getAttribute("data-factory"))),
    ).toEqual(["factory-a", "factory-b"]);
    expect(await page.locator('tr[data-factory="factory-b"] [data-lease="reclaimed-job"]').textContent()).toMatch(
      /^reclaimed-job epoch 2 · building · expires in \d+s$|^reclaimed-job epoch 2 · building · expired /,
    );
    expect(await page.locator('tr[data-factory="factory-a"] [data-lease]').count()).toBe(0);
    expect(await page.locator('#jobs tr[data-id="reclaimed-job"]').getAttribute("data-stage")).toBe("building");
    expect(await page.locator('#jobs tr[data-id="reclaimed-job"] td').nth(2).textContent()).toBe("2");
    expect(await page.locator('#jobs tr[data-id="waiting-job"]').getAttribute("data-stage")).toBe("queued");

    await page.locator('#jobs tr[data-id="reclaimed-job"]').click();
    await page.locator('#timeline[data-id="reclaimed-job"] li').first().waitFor();
    const runs = await page
      .locator("#timeline li[data-run]")
      .evaluateAll((items) => items.map((item) => item.getAttribute("data-run")));
    expect(runs).toEqual(["1", "2"]);
    const events = await page.locator("#timeline li[data-event]").allTextContents();
    expect(events.some((text) => /claimed.*epoch 1 · factory-a/.test(text))).toBe(true);
    expect(events.some((text) => /epoch 2 · factory-b/.test(text))).toBe(true);
    expect(await page.content()).not.toContain("secret-prompt-text");

    // Live: a third factory's first heartbeat reaches the open page without a reload.
    await heartbeat("factory-c");
    await page.locator('#factories tr[data-factory="factory-c"]').waitFor({ timeout: 10_000 });
    expect(problems).toEqual([]);

    const dir = process.env.AQ_UPDATE_SCREENSHOT ? join(ROOT, "docs") : tempDir("aq-fleet-shot-");
    mkdirSync(dir, { recursive: true });
    await page.screenshot({ path: join(dir, "fleet.png"), fullPage: true });
  });

  it("answers only a loopback Host, and beyond loopback asks for the coordinator's token", async () => {
    const { coordinator } = await fleet(60_000);
    const url = new URL(coordinator.url);
    // fetch may not set Host: a plain node:http request does, as a rebinding page's browser would.
    const rebound = await new Promise<number>((done, fail) =>
      get(
        {
          host: "127.0.0.1",
          port: Number(url.port),
          path: "/ui/api/fleet",
          headers: { host: `evil.example:${url.port}` },
        },
        (answer) => (answer.resume(), done(answer.statusCode ?? 0)),
      ).on("error", fail),
    );
    expect(rebound).toBe(403);
    const open = await fetch(`${coordinator.url}/ui/api/fleet`);
    expect(open.status).toBe(200);
    const guarded = await startCoordinator({
      port: 0,
      host: "127.0.0.1",
      db: ":memory:",
      leaseMs: 60_000,
      token: "sekrit-token",
    });
    onTestFinished(() => guarded.close());
    // The guard reads the token the way it does beyond loopback once a token is set.
    expect((await fetch(`${guarded.url}/ui/api/fleet`)).status).toBe(401);
    expect((await fetch(`${guarded.url}/ui/api/fleet`, { headers: { authorization: "Bearer wrong" } })).status).toBe(
      401,
    );
    expect(
      (await fetch(`${guarded.url}/ui/api/fleet`, { headers: { authorization: "Bearer sekrit-token" } })).status,
    ).toBe(200);
    const once = await fetch(`${guarded.url}/?token=sekrit-token`, { redirect: "manual" });
    expect(once.status).toBe(303);
    expect(once.headers.get("set-cookie")).toMatch(/HttpOnly; SameSite=Strict/);
  });
});
