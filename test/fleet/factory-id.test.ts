import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { queueFactoryId } from "../../plugins/fleet/settings.ts";
import { aq } from "../helpers/cli.ts";
import { tempDir } from "../helpers/temp.ts";

/** A loopback port nobody listens on: the coordinator is down, which changes nothing about the id. */
const DOWN = { AQ_FLEET: "1", AQ_FLEET_API: "http://127.0.0.1:9/api" };

describe("a factory's id without AQ_FACTORY_ID: one per queue, kept in the queue", () => {
  it("run, status and fleet-status on one queue are one factory; another queue on this host is another", async () => {
    const one = tempDir();
    const other = tempDir();
    const [before, fleetBefore] = await Promise.all([
      aq(["status", "--json"], { cwd: one, env: DOWN }),
      aq(["fleet-status", "--json"], { cwd: one, env: DOWN }),
    ]);
    expect(before.code, before.stderr).toBe(0);
    const id = JSON.parse(before.stdout).factoryId as string;
    expect(id).toMatch(/^.+-[0-9a-f]{6}$/);
    expect(JSON.parse(fleetBefore.stdout).factoryId).toBe(id);
    // status and fleet-status only read: nothing was written, and the queue does not exist yet.
    expect(readdirSync(one)).toEqual([]);

    const ran = await aq(["run", "--once"], { cwd: one, env: DOWN });
    expect(ran.code, ran.stderr).toBe(0);
    expect(ran.stderr).toContain(`factory ${id} joining the fleet`);
    const [status, fleetStatus, elsewhere] = await Promise.all([
      aq(["status", "--json"], { cwd: one, env: DOWN }),
      aq(["fleet-status", "--json"], { cwd: one, env: DOWN }),
      aq(["status", "--json"], { cwd: other, env: DOWN }),
    ]);
    expect(JSON.parse(status.stdout).factoryId).toBe(id);
    expect(JSON.parse(fleetStatus.stdout).factoryId).toBe(id);
    expect(JSON.parse(elsewhere.stdout).factoryId).not.toBe(id);
    expect(readFileSync(join(one, "queue", ".aq", "factory-id"), "utf8")).toBe(`${id}\n`);
  });

  it("the kept id wins (a moved queue keeps it, a person may pin one); AQ_FACTORY_ID wins over both", async () => {
    const dir = tempDir();
    const queue = join(dir, "queue");
    expect(queueFactoryId(queue, "host")).toBe(queueFactoryId(queue, "host"));
    expect(existsSync(queue)).toBe(false);
    mkdirSync(join(queue, ".aq"), { recursive: true });
    const made = queueFactoryId(queue, "host");
    expect(readFileSync(join(queue, ".aq", "factory-id"), "utf8")).toBe(`${made}\n`);
    writeFileSync(join(queue, ".aq", "factory-id"), "pinned-factory\n");
    expect(queueFactoryId(queue, "host")).toBe("pinned-factory");
    expect(queueFactoryId(join(dir, "another-queue"), "host")).not.toBe(made);

    const status = await aq(["status", "--json"], { cwd: dir, env: { ...DOWN, AQ_FACTORY_ID: "from-env" } });
    expect(JSON.parse(status.stdout).factoryId).toBe("from-env");
    const kept = await aq(["status", "--json"], { cwd: dir, env: DOWN });
    expect(JSON.parse(kept.stdout).factoryId).toBe("pinned-factory");
  });
});
