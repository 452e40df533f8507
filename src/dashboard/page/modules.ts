import { readFile } from "node:fs/promises";
import { relative } from "node:path";
import { fileURLToPath } from "node:url";
import { AqError } from "../../core/errors.ts";

/** Where the dashboard's modules are served: their path under dist/src, so relative imports resolve. */
export const MODULES_PATH = "/js/";
export const ENTRY = `${MODULES_PATH}dashboard/page/app/main.js`;

/** dist/src: beside this file when it runs compiled, or in the checkout's dist when it runs as source. */
const COMPILED = import.meta.url.endsWith(".ts")
  ? new URL("../../../dist/src/", import.meta.url)
  : new URL("../../", import.meta.url);

const IMPORT = /\b(?:import|export)\b[^"';]*?\bfrom\s*["']([^"']+)["']|\bimport\s*\(?\s*["']([^"']+)["']/g;

const loaded = new Map<string, Promise<Record<string, string>>>();

/**
 * A page's ES modules as compiled by the build (its `app/*.ts`, and the modules they import, such
 * as the core's stage table): the entry and every module it imports, read once, keyed by the path
 * they are served at (`prefix` + their path under dist/src). Only relative imports are followed;
 * anything else is a module a browser cannot load.
 */
export function pageModules(entry = ENTRY, prefix = MODULES_PATH): Promise<Record<string, string>> {
  let modules = loaded.get(entry);
  if (!modules) {
    modules = collect(entry, prefix).catch((error: unknown) => {
      loaded.delete(entry);
      throw error;
    });
    loaded.set(entry, modules);
  }
  return modules;
}

async function collect(entry: string, prefix: string): Promise<Record<string, string>> {
  if (!entry.startsWith(prefix)) throw new Error(`${entry} is not under ${prefix}`);
  const modules: Record<string, string> = {};
  const pending = [new URL(`./${entry.slice(prefix.length)}`, COMPILED)];
  while (pending.length) {
    const file = pending.pop()!;
    const path = prefix + relative(fileURLToPath(COMPILED), fileURLToPath(file)).replaceAll("\\", "/");
    if (path in modules) continue;
    const text = await readFile(file, "utf8").catch((error: NodeJS.ErrnoException) => {
      if (error.code !== "ENOENT") throw error;
      throw new AqError("AQ_FAILED", `the web page's module ${fileURLToPath(file)} is missing (npm run build)`);
    });
    modules[path] = text;
    for (const match of text.matchAll(IMPORT)) {
      const specifier = match[1] ?? match[2]!;
      if (!specifier.startsWith("./") && !specifier.startsWith("../"))
        throw new AqError("AQ_FAILED", `the web page's ${path} imports ${specifier}, which a browser cannot load`);
      const target = new URL(specifier, file);
      if (!fileURLToPath(target).startsWith(fileURLToPath(COMPILED)))
        throw new AqError("AQ_FAILED", `the web page's ${path} imports ${specifier}, outside the compiled code`);
      pending.push(target);
    }
  }
  return modules;
}
