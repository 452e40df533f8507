import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";

const SRC = join(import.meta.dirname, "../../src");
const PLUGINS = join(import.meta.dirname, "../../plugins");

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith(".ts"))
    .map((entry) => join(entry.parentPath, entry.name));
}

/** Each import of `file` that resolves into `dir`. */
function importsInto(file: string, dir: string): string[] {
  const found: string[] = [];
  for (const [, specifier] of readFileSync(file, "utf8").matchAll(/(?:from|import\()\s*"(\.[^"]+)"/g)) {
    const target = join(file, "..", specifier!);
    if (!relative(dir, target).startsWith("..")) found.push(`${relative(join(SRC, ".."), file)} → ${specifier}`);
  }
  return found;
}

describe("layers", () => {
  it("the core imports nothing from src/config (config depends on the core, never the other way)", () => {
    const config = join(SRC, "config");
    expect(sources(join(SRC, "core")).flatMap((file) => importsInto(file, config))).toEqual([]);
  });

  it("no coordinator file but a store's own names a store (a new store is its files and one row in stores.ts)", () => {
    const coordinator = join(SRC, "coordinator");
    const storeFiles = /(^|\/)(sqlite-|postgres-|store\.ts$|stores\.ts$|migrations\/)/;
    const naming = sources(coordinator)
      .filter((file) => !storeFiles.test(relative(coordinator, file)))
      .flatMap((file) =>
        importsInto(file, coordinator).filter((line) => /(sqlite|postgres)-|\/store\.ts|migrations\//.test(line)),
      );
    // The SQLite store's synchronous handle, a test hook of the embedded coordinator.
    expect(naming).toEqual(["src/coordinator/server.ts → ./store.ts"]);
  });

  it("only the built-in registry names a plugin: src/ imports plugins/ through plugins/builtin.ts alone", () => {
    const intoPlugins = sources(SRC).flatMap((file) => importsInto(file, PLUGINS));
    expect(intoPlugins).toEqual(["src/plugin/load.ts → ../../plugins/builtin.ts"]);
  });

  it("the fleet plugin can be deleted: no other plugin imports it, and the registry loads it lazily", () => {
    const fleet = join(PLUGINS, "fleet");
    const others = sources(PLUGINS).filter((file) => relative(fleet, file).startsWith(".."));
    const imports = others.flatMap((file) => importsInto(file, fleet));
    expect(imports).toEqual(["plugins/builtin.ts → ./fleet/index.ts"]);
    expect(readFileSync(join(PLUGINS, "builtin.ts"), "utf8")).not.toMatch(/^import .*fleet/m);
  });
});
