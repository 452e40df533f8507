import { readFileSync, statSync } from "node:fs";
import { registerHooks } from "node:module";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

/** `.ts` files loaded as ES modules whatever their package.json says: the config, plugins, and what they import. */
const forcedModules = new Set<string>();
/** Package names imported by this module on a project's behalf, and the directory to resolve them from. */
const packageDirs = new Map<string, string>();
let hooked = false;

function isForced(url: string | undefined): boolean {
  return url !== undefined && url.startsWith("file:") && forcedModules.has(new URL(url).pathname);
}

function hook(): void {
  if (hooked) return;
  hooked = true;
  registerHooks({
    resolve(specifier, context, nextResolve) {
      const dir = context.parentURL === import.meta.url ? packageDirs.get(specifier) : undefined;
      if (dir !== undefined) return nextResolve(specifier, { ...context, parentURL: pathToFileURL(join(dir, "noop.js")).href });
      let resolved;
      try {
        resolved = nextResolve(specifier, context);
      } catch (error) {
        // `import { defineConfig } from "aq"` works even where aq is not installed in the repository.
        if (specifier !== "aq" || !isForced(context.parentURL)) throw error;
        return { url: new URL("../index.js", import.meta.url).href, shortCircuit: true };
      }
      // A forced module's own .ts imports are ESM too (a helper beside the config).
      if (isForced(context.parentURL) && /\.m?ts$/.test(new URL(resolved.url).pathname) && resolved.url.startsWith("file:")) {
        forcedModules.add(new URL(resolved.url).pathname);
      }
      return resolved;
    },
    load(url, context, nextLoad) {
      if (isForced(url)) return { format: "module-typescript", source: readFileSync(new URL(url)), shortCircuit: true };
      return nextLoad(url, context);
    },
  });
}

/**
 * Imports a `.ts` file as an ES module whatever the nearest package.json says. Node strips the
 * types itself (no compiler at run time); a load hook tells it the file is ESM, so a config or
 * plugin written with `import`/`export` also loads in a repository typed "commonjs".
 */
export async function importTypeScript(path: string): Promise<Record<string, unknown>> {
  hook();
  const url = pathToFileURL(path);
  forcedModules.add(url.pathname);
  // A changed file is imported afresh (long-lived processes, tests); an unchanged one is cached.
  url.searchParams.set("mtime", String(statSync(path).mtimeMs));
  return (await import(url.href)) as Record<string, unknown>;
}

/**
 * Imports a package by name as if `dir` imported it: ESM resolution (the `import` condition of
 * its exports), from the project's node_modules rather than aq's own.
 */
export async function importPackageFrom(name: string, dir: string): Promise<Record<string, unknown>> {
  hook();
  packageDirs.set(name, dir);
  return (await import(name)) as Record<string, unknown>;
}
