import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { startCoordinator } from "../../src/coordinator/server.ts";
import { aq, printedApiUrl, startAq, waitFor, writeTestConfig } from "../helpers/cli.ts";
import { coordinator, getJson, portOf, sendJson, TOKEN } from "../helpers/fleet-world.ts";
import { requireBuild } from "../helpers/store-cli.ts";
import { tempDir } from "../helpers/temp.ts";

/** Who the development coordinator answers: a token always, a loopback Host, no web page, JSON bodies only. */

/** A raw request, so that Host, Origin and content-type are exactly what the test says. */
function raw(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string },
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      url,
      { method: options.method ?? "GET", headers: options.headers ?? {} },
      (response) => {
        let text = "";
        response.on("data", (chunk: Buffer) => (text += chunk.toString()));
        response.on("end", () => resolve({ status: response.statusCode!, text }));
      },
    );
    request.on("error", reject);
    request.end(options.body);
  });
}

const JOB = JSON.stringify({ id: "J1", bodyMd: "touch /tmp/pwned" });
const auth = { authorization: `Bearer ${TOKEN}` };

describe("the coordinator's request guard", () => {
  it("refuses a non-loopback Host on loopback (DNS rebinding), even with the token", async () => {
    const coord = await coordinator();
    const port = portOf(coord.url);
    const rebound = await raw(`${coord.api}/dev/jobs`, { headers: { ...auth, host: `evil.example:${port}` } });
    expect(rebound.status).toBe(403);
    expect(JSON.parse(rebound.text).error).toMatch(/loopback Host/);
    const claim = await raw(`${coord.api}/fleet/claim`, {
      method: "POST",
      headers: { ...auth, host: "evil.example", "content-type": "application/json" },
      body: JSON.stringify({ factoryId: "f", capabilities: [] }),
    });
    expect(claim.status).toBe(403);
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`])
      expect((await raw(`${coord.api}/dev/jobs`, { headers: { ...auth, host } })).status).toBe(200);
  });

  it("refuses a foreign or opaque Origin, even with the token", async () => {
    const coord = await coordinator();
    for (const origin of ["http://evil.example", "null", `http://localhost:${portOf(coord.url) + 1}`]) {
      const answer = await raw(`${coord.api}/dev/jobs`, {
        method: "POST",
        headers: { ...auth, origin, "content-type": "application/json" },
        body: JOB,
      });
      expect(answer.status, origin).toBe(403);
    }
    expect(coord.store.jobs()).toEqual([]);
  });

  it("requires content-type: application/json for every body: a text/plain POST is 415 and enqueues nothing", async () => {
    const coord = await coordinator();
    for (const type of [
      "text/plain",
      "application/x-www-form-urlencoded",
      "multipart/form-data; boundary=x",
      undefined,
    ]) {
      const headers: Record<string, string> = { ...auth };
      if (type) headers["content-type"] = type;
      const answer = await raw(`${coord.api}/dev/jobs`, { method: "POST", headers, body: JOB });
      expect(answer.status, String(type)).toBe(415);
    }
    expect(coord.store.jobs()).toEqual([]);
    expect(
      (
        await raw(`${coord.api}/dev/jobs`, {
          method: "POST",
          headers: { ...auth, "content-type": "application/json; charset=utf-8" },
          body: JOB,
        })
      ).status,
    ).toBe(201);
  });

  it("without a configured token it generates one and asks it of every request", async () => {
    const running = await startCoordinator({ port: 0, host: "127.0.0.1", db: ":memory:", leaseMs: 60_000 });
    try {
      expect(running.token.length).toBeGreaterThanOrEqual(32);
      expect((await sendJson("POST", `${running.api}/dev/jobs`, { id: "J1", bodyMd: "echo hi" }, null)).status).toBe(
        401,
      );
      expect((await getJson(`${running.api}/dev/jobs`, null)).status).toBe(401);
      expect((await getJson(`${running.api}/fleet/jobs/J1`, "guess")).status).toBe(401);
      expect(running.store.jobs()).toEqual([]);
      expect(
        (await sendJson("POST", `${running.api}/dev/jobs`, { id: "J1", bodyMd: "echo hi" }, running.token)).status,
      ).toBe(201);
    } finally {
      await running.close();
    }
  });

  it("answers 400, not 500, for a path with a malformed percent-escape", async () => {
    const coord = await coordinator();
    for (const path of ["/fleet/jobs/%E0%A4%A", "/fleet/jobs/%E0%A4%A/events"]) {
      const answer = await getJson(`${coord.api}${path}`);
      expect(answer.status, path).toBe(400);
      expect(answer.body.error).toMatch(/percent-encoding/);
    }
  });

  describe("aq coordinator and a local factory (CLI)", () => {
    beforeAll(() => requireBuild());

    it("a factory ignores a token file that others could have written or that is a link", async () => {
      const coord = await coordinator({ token: "local-token-3e9a" });
      const state = tempDir("aq-token-state-");
      mkdirSync(join(state, "aq"), { mode: 0o700 });
      const file = join(state, "aq", `coordinator-${portOf(coord.url)}.token`);
      const project = tempDir("aq-token-project-");
      writeTestConfig(project, { plugins: [["tracker-echo", false]] });
      const status = () =>
        aq(["fleet-status"], {
          cwd: project,
          env: { AQ_FLEET: "1", AQ_FLEET_API: coord.api, AQ_FACTORY_ID: "factory-t", XDG_STATE_HOME: state },
        });

      writeFileSync(file, "local-token-3e9a\n", { mode: 0o600 });
      expect((await status()).code).toBe(0);
      chmodSync(file, 0o644);
      expect((await status()).stdout).toMatch(/401/);
      const real = join(state, "elsewhere.token");
      writeFileSync(real, "local-token-3e9a\n", { mode: 0o600 });
      chmodSync(file, 0o600);
      rmSync(file);
      symlinkSync(real, file);
      expect((await status()).stdout).toMatch(/401/);
    });

    it("writes its generated token to a 0600 file named on stderr, which a loopback factory reads when AQ_FLEET_TOKEN is unset", async () => {
      const dir = tempDir("aq-coord-token-");
      const state = join(dir, "state");
      const child = startAq(["coordinator", "--port", "0", "--db", ":memory:"], {
        cwd: dir,
        env: { XDG_STATE_HOME: state },
        timeoutMs: 30_000,
      });
      try {
        const api = await printedApiUrl(child);
        const file = join(state, "aq", `coordinator-${portOf(api)}.token`);
        await waitFor(() => child.output().stderr.includes(file), 10_000, "the token file named on stderr");
        expect(statSync(file).mode & 0o777).toBe(0o600);
        expect(statSync(join(state, "aq")).mode & 0o777).toBe(0o700);
        const token = readFileSync(file, "utf8").trim();
        expect(child.output().stderr).not.toContain(token);
        expect(
          (
            await sendJson(
              "POST",
              `${api}/dev/jobs`,
              { id: "J1", bodyMd: "---\nengine: shell\n---\necho ran > ran.txt\n" },
              null,
            )
          ).status,
        ).toBe(401);
        expect(
          (
            await sendJson(
              "POST",
              `${api}/dev/jobs`,
              { id: "J1", bodyMd: "---\nengine: shell\n---\necho ran > ran.txt\n" },
              token,
            )
          ).status,
        ).toBe(201);

        const project = tempDir("aq-coord-token-factory-");
        writeTestConfig(project, { plugins: [["tracker-echo", false]] });
        const env = { AQ_FLEET: "1", AQ_FLEET_API: api, AQ_FACTORY_ID: "factory-local", XDG_STATE_HOME: state };
        const ran = await aq(["run", "--once"], { cwd: project, env });
        expect(ran.code, ran.stderr).toBe(0);
        expect((await getJson(`${api}/fleet/jobs/J1`, token)).body).toMatchObject({
          factoryId: "factory-local",
          stage: "review",
        });
        // Another user's state directory (here: none) gives no token: the factory is refused.
        const elsewhere = await aq(["fleet-status"], {
          cwd: project,
          env: { ...env, XDG_STATE_HOME: join(dir, "other") },
        });
        expect(elsewhere.code).toBe(1);
        expect(elsewhere.stdout + elsewhere.stderr).toMatch(/401/);
        child.kill("SIGTERM");
        expect((await child.exited).code).toBe(0);
        // Port 0 is not picked again: its token file goes with the coordinator.
        expect(existsSync(file)).toBe(false);
      } finally {
        child.kill("SIGTERM");
        await child.exited;
      }
    });
  });
});
