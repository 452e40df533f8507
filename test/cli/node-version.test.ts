import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { BIN, cliEnv } from "../helpers/cli.ts";
import { tempDir } from "../helpers/temp.ts";

/** A Node older than aq supports (below 22.19, or 23.x) found on this machine, if any. */
function findOldNode(): { path: string; version: string } | undefined {
  const candidates = new Set<string>(["/usr/bin/node", "/usr/local/bin/node", "/bin/node"]);
  try {
    for (const line of execFileSync("which", ["-a", "node"], { encoding: "utf8" }).split("\n"))
      if (line.trim()) candidates.add(line.trim());
  } catch {
    // no `which`, or no node on PATH: the fixed candidates remain
  }
  for (const path of candidates) {
    if (!existsSync(path)) continue;
    const result = spawnSync(path, ["--version"], { encoding: "utf8" });
    const match = /^v(\d+)\.(\d+)\./.exec(result.stdout ?? "");
    if (!match) continue;
    const [major, minor] = [Number(match[1]), Number(match[2])];
    if (major < 22 || (major === 22 && minor < 19) || major === 23) return { path, version: result.stdout.trim() };
  }
  return undefined;
}

const old = findOldNode();

describe("bin/aq.js on an unsupported Node", () => {
  it.skipIf(!old)(
    old
      ? `prints one line saying it needs Node ^22.19 or >=24 and exits non-zero (on ${old.path}, ${old.version})`
      : "prints one line saying it needs Node ^22.19 or >=24 — SKIPPED: no Node older than 22.19 on this machine",
    () => {
      const dir = tempDir();
      for (const args of [["status"], ["--version"], []]) {
        const result = spawnSync(old!.path, [BIN, ...args], {
          cwd: dir,
          env: cliEnv(),
          encoding: "utf8",
          timeout: 20_000,
        });
        expect(result.status, args.join(" ")).not.toBe(0);
        expect(result.status).not.toBeNull();
        expect(result.stdout).toBe("");
        expect(result.stderr.endsWith("\n")).toBe(true);
        const lines = result.stderr.slice(0, -1).split("\n");
        expect(lines, result.stderr).toHaveLength(1);
        expect(lines[0]).toContain("^22.19");
        expect(lines[0]).toContain(">=24");
        expect(lines[0]).toContain(old!.version);
        expect(lines[0]).not.toMatch(/SyntaxError|^\s+at /);
      }
    },
  );
});
