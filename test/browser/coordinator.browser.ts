import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { type Browser, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startCoordinator, type RunningCoordinator } from "../../src/coordinator/server.ts";
import { waitFor } from "../helpers/cli.ts";
import { CHROMIUM, CHROMIUM_ARGS } from "./chromium.ts";

/**
 * A web page from another origin against the development coordinator on loopback, in a real
 * chromium: it can send a no-cors `text/plain` POST (a "simple" request, no preflight), and a
 * rebound name can make the coordinator's port look same-origin. Neither gets a job enqueued or
 * a prompt read.
 */

const REBOUND = "rebind.test";
let browser: Browser;
let coordinator: RunningCoordinator;
let attacker: Server;
let attackerUrl: string;

beforeAll(async () => {
  // As `aq coordinator` starts by default: loopback, no token configured.
  coordinator = await startCoordinator({ port: 0, host: "127.0.0.1", db: ":memory:", leaseMs: 60_000 });
  attacker = createServer((_request, response) =>
    response.writeHead(200, { "content-type": "text/html" }).end("<!doctype html><title>elsewhere</title>"),
  );
  await new Promise<void>((done) => attacker.listen(0, "127.0.0.1", done));
  attackerUrl = `http://127.0.0.1:${(attacker.address() as AddressInfo).port}/`;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [...CHROMIUM_ARGS, `--host-resolver-rules=MAP ${REBOUND} 127.0.0.1`],
    headless: true,
  });
});

afterAll(async () => {
  await browser?.close();
  await coordinator?.close();
  attacker?.closeAllConnections();
  await new Promise<void>((done) => (attacker ? attacker.close(() => done()) : done()));
});

const requests = (route: string) => coordinator.stats()[route] ?? 0;

describe("the development coordinator and web pages", () => {
  it("refuses a cross-origin no-cors text/plain POST to /api/dev/jobs: the request arrives and nothing is enqueued", async () => {
    const page = await browser.newPage();
    await page.goto(attackerUrl);
    const before = requests("POST /api/dev/jobs");
    await page.evaluate(async (api) => {
      const body = JSON.stringify({ id: "pwned", bodyMd: "---\nengine: shell\n---\ntouch /tmp/aq-pwned\n" });
      await fetch(`${api}/dev/jobs`, {
        method: "POST",
        mode: "no-cors",
        headers: { "content-type": "text/plain" },
        body,
      });
    }, coordinator.api);
    await waitFor(() => requests("POST /api/dev/jobs") > before, 10_000, "the page's POST to reach the coordinator");
    expect(coordinator.store.jobs()).toEqual([]);
    await page.close();
  });

  it("a CORS request carrying a (guessed) token is stopped at its preflight by the Origin check", async () => {
    const page = await browser.newPage();
    await page.goto(attackerUrl);
    const outcome = await page.evaluate(
      async ({ api, token }) => {
        try {
          const response = await fetch(`${api}/dev/jobs`, {
            method: "POST",
            headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
            body: JSON.stringify({ id: "pwned", bodyMd: "true" }),
          });
          return `answered ${response.status}`;
        } catch (error) {
          return `blocked: ${(error as Error).name}`;
        }
      },
      { api: coordinator.api, token: coordinator.token },
    );
    expect(outcome).toMatch(/^blocked/);
    expect(requests("OPTIONS /api/dev/jobs")).toBeGreaterThan(0);
    expect(coordinator.store.jobs()).toEqual([]);
    await page.close();
  });

  it("a rebound name on the coordinator's port is refused: the page cannot read the API same-origin", async () => {
    coordinator.store.enqueue({ id: "secret", bodyMd: "PROMPT-REBIND-SENTINEL" });
    const page = await browser.newPage();
    const port = new URL(coordinator.url).port;
    const answer = await page.goto(`http://${REBOUND}:${port}/api/dev/jobs`);
    expect(answer?.status()).toBe(403);
    expect(await answer?.text()).not.toContain("secret");
    await page.close();
  });
});
