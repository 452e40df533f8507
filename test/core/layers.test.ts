import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";

const SRC = join(import.meta.dirname, "../../src");

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
    if (!relative(dir, target).startsWith("..")) found.push(`${relative(SRC, file)} → ${specifier}`);
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
    expect(naming).toEqual(["coordinator/server.ts → ./store.ts"]);
  });
});
