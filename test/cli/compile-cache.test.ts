import { chmodSync, existsSync, mkdirSync, readdirSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { aq } from "../helpers/cli.ts";
import { tempDir } from "../helpers/temp.ts";

/** The compiled modules Node wrote under a cache directory (one subdirectory per Node version, flags and uid). */
function entries(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .flatMap((entry) => readdirSync(join(dir, entry.name)));
}

/** bin/aq.js keeps Node's compile cache in the user's cache directory, never in a place another user could write. */
describe("the compile cache of bin/aq.js", () => {
  const noCacheSwitches = {
    XDG_CACHE_HOME: undefined,
    NODE_COMPILE_CACHE: undefined,
    NODE_DISABLE_COMPILE_CACHE: undefined,
  };

  it("goes in ~/.cache/aq/compile, made private to the user, and is filled by a run", async () => {
    const home = tempDir();
    const result = await aq(["--version"], { cwd: home, env: { ...noCacheSwitches, HOME: home } });
    expect(result.code, result.stderr).toBe(0);
    const dir = join(home, ".cache", "aq", "compile");
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(entries(dir).length).toBeGreaterThan(0);
  });

  it("follows XDG_CACHE_HOME", async () => {
    const cache = tempDir();
    const result = await aq(["--version"], { cwd: cache, env: { ...noCacheSwitches, XDG_CACHE_HOME: cache } });
    expect(result.code, result.stderr).toBe(0);
    expect(entries(join(cache, "aq", "compile")).length).toBeGreaterThan(0);
  });

  it("creates no home directory that is not there", async () => {
    const outer = tempDir();
    const result = await aq(["--version"], { cwd: outer, env: { ...noCacheSwitches, HOME: join(outer, "no-home") } });
    expect(result.code, result.stderr).toBe(0);
    expect(existsSync(join(outer, "no-home"))).toBe(false);
  });

  it.skipIf(process.platform === "win32")("is not used in a directory others may write", async () => {
    const home = tempDir();
    const dir = join(home, ".cache", "aq", "compile");
    mkdirSync(dir, { recursive: true });
    chmodSync(dir, 0o777);
    const result = await aq(["--version"], { cwd: home, env: { ...noCacheSwitches, HOME: home } });
    expect(result.code, result.stderr).toBe(0);
    expect(readdirSync(dir)).toEqual([]);
  });

  it("is off with NODE_DISABLE_COMPILE_CACHE=1", async () => {
    const home = tempDir();
    const env = { ...noCacheSwitches, HOME: home, NODE_DISABLE_COMPILE_CACHE: "1" };
    const result = await aq(["--version"], { cwd: home, env });
    expect(result.code, result.stderr).toBe(0);
    expect(existsSync(join(home, ".cache", "aq", "compile"))).toBe(false);
  });

  it("drops, once a day, entries not read for a month", async () => {
    const home = tempDir();
    const env = { ...noCacheSwitches, HOME: home };
    const dir = join(home, ".cache", "aq", "compile");
    expect((await aq(["--version"], { cwd: home, env })).code).toBe(0);
    const [version] = readdirSync(dir).filter((name) => !name.startsWith("."));
    const old = join(dir, version!, "0badc0de");
    const fresh = join(dir, version!, "0000f00d");
    writeFileSync(old, "");
    writeFileSync(fresh, "");
    const monthAgo = new Date(Date.now() - 31 * 24 * 3600_000);
    utimesSync(old, monthAgo, monthAgo);
    // Pruned less than a day ago: nothing goes.
    expect((await aq(["--version"], { cwd: home, env })).code).toBe(0);
    expect(existsSync(old)).toBe(true);
    const dayAgo = new Date(Date.now() - 25 * 3600_000);
    utimesSync(join(dir, ".pruned"), dayAgo, dayAgo);
    expect((await aq(["--version"], { cwd: home, env })).code).toBe(0);
    expect(existsSync(old)).toBe(false);
    expect(existsSync(fresh)).toBe(true);
  });
});
