import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { type ResolveFnOutput, registerHooks, stripTypeScriptTypes } from "node:module";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

/** `.ts` files loaded as ES modules whatever their package.json says: the config, plugins, and what they import. */
const forcedModules = new Set<string>();
/** Package names imported by this module on a project's behalf, and the directory to resolve them from. */
const packageDirs = new Map<string, string>();
let hooked = false;

function isForced(url: string | undefined): boolean {
  return url?.startsWith("file:") === true && forcedModules.has(new URL(url).pathname);
}

/** aq's own public API, which `import ... from "agent-queue"` in a config or plugin always gets. */
const OWN_API = new URL(import.meta.url.endsWith(".ts") ? "../index.ts" : "../index.js", import.meta.url).href;

function hook(): void {
  if (hooked) return;
  hooked = true;
  registerHooks({
    resolve(specifier, context, nextResolve) {
      // One aq per process: a config or plugin (a package's included) that imports agent-queue gets
      // the very module that runs it, whichever copy is installed where, so `FencedError` is one class.
      if (specifier === "agent-queue") return { url: OWN_API, shortCircuit: true };
      const dir = context.parentURL === import.meta.url ? packageDirs.get(specifier) : undefined;
      if (dir !== undefined)
        return nextResolve(specifier, { ...context, parentURL: pathToFileURL(join(dir, "noop.js")).href });
      let resolved: ResolveFnOutput;
      try {
        resolved = nextResolve(specifier, context);
      } catch (error) {
        // The package's former name: `import { defineConfig } from "aq"` still works where no package "aq" is installed.
        if (specifier !== "aq") throw error;
        return { url: OWN_API, shortCircuit: true };
      }
      // A forced module's own .ts imports are ESM too (a helper beside the config).
      if (
        isForced(context.parentURL) &&
        /\.m?ts$/.test(new URL(resolved.url).pathname) &&
        resolved.url.startsWith("file:")
      ) {
        forcedModules.add(new URL(resolved.url).pathname);
      }
      return resolved;
    },
    load(url, context, nextLoad) {
      if (!isForced(url)) return nextLoad(url, context);
      const source = readFileSync(new URL(url), "utf8");
      const stripped = strippedFromCache(fileURLToPath(new URL(url)), source);
      return stripped === undefined
        ? { format: "module-typescript", source, shortCircuit: true }
        : { format: "module", source: stripped, shortCircuit: true };
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

/** Imports a config or plugin file by path: `.ts`/`.mts` as above, anything else as Node would, with `agent-queue` resolved to this aq. */
export async function importModule(path: string): Promise<Record<string, unknown>> {
  if (/\.m?ts$/.test(path)) return importTypeScript(path);
  hook();
  return (await import(pathToFileURL(path).href)) as Record<string, unknown>;
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

/**
 * Node strips types with a WebAssembly compiler that takes ~0.1 s to start, most of a command's
 * start-up. The stripped JavaScript of a config or plugin is kept in the user's cache, keyed by
 * the file's content and the Node version, so only the first run after a change pays for it.
 * Any problem with the cache falls back to Node's own loading.
 */
function strippedFromCache(path: string, source: string): string | undefined {
  try {
    const dir = join(process.env.XDG_CACHE_HOME || join(homedir(), ".cache"), "aq", "ts");
    const key = createHash("sha256")
      .update(process.version)
      .update("\0")
      .update(path)
      .update("\0")
      .update(source)
      .digest("hex")
      .slice(0, 32);
    const file = join(dir, `${key}.mjs`);
    try {
      return readFileSync(file, "utf8");
    } catch {
      // not cached yet
    }
    const stripped = quietly(() =>
      stripTypeScriptTypes(source, { mode: "strip", sourceUrl: pathToFileURL(path).href }),
    );
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    pruneCache(dir);
    const temp = `${file}.${process.pid}.tmp`;
    writeFileSync(temp, stripped, { mode: 0o600 });
    renameSync(temp, file);
    return stripped;
  } catch {
    return undefined;
  }
}

/** On a cache miss (rare), entries not used for a month go: the cache does not grow for ever. */
function pruneCache(dir: string): void {
  const monthAgo = Date.now() - 30 * 24 * 3600_000;
  for (const name of readdirSync(dir)) {
    const file = join(dir, name);
    const used = statSync(file, { throwIfNoEntry: false })?.atimeMs;
    if (used !== undefined && used < monthAgo) rmSync(file, { force: true });
  }
}

/** Runs `fn` without Node's one-line experimental warning for stripTypeScriptTypes reaching the user. */
function quietly<T>(fn: () => T): T {
  const emit = process.emitWarning;
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    if (String(typeof warning === "string" ? warning : warning.message).includes("stripTypeScriptTypes")) return;
    return (emit as (...args: unknown[]) => void).call(process, warning, ...rest);
  }) as typeof process.emitWarning;
  try {
    return fn();
  } finally {
    process.emitWarning = emit;
  }
}
