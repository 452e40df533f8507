import { readFile } from "node:fs/promises";
import { relative } from "node:path";
import { fileURLToPath } from "node:url";
import { AqError } from "../../core/errors.ts";

/** Where the page's modules are served: their path under dist/src, so relative imports resolve. */
export const MODULES_PATH = "/js/";
export const ENTRY = `${MODULES_PATH}dashboard/page/app/main.js`;

/** dist/src: beside this file when it runs compiled, or in the checkout's dist when it runs as source. */
const COMPILED = import.meta.url.endsWith(".ts")
  ? new URL("../../../dist/src/", import.meta.url)
  : new URL("../../", import.meta.url);

const IMPORT = /\b(?:import|export)\b[^"';]*?\bfrom\s*["']([^"']+)["']|\bimport\s*\(?\s*["']([^"']+)["']/g;

let loaded: Promise<Record<string, string>> | undefined;

/**
 * The page's ES modules as compiled by the build (src/dashboard/page/app/*.ts, and the core
 * modules they import, such as the stage table): the entry and every module it imports, read once.
 * Only relative imports are followed; anything else is a module a browser cannot load.
 */
export function pageModules(): Promise<Record<string, string>> {
  return (loaded ??= collect().catch((error: unknown) => {
    loaded = undefined;
    throw error;
  }));
}

async function collect(): Promise<Record<string, string>> {
  const modules: Record<string, string> = {};
  const pending = [new URL(`.${ENTRY.slice(MODULES_PATH.length - 1)}`, COMPILED)];
  while (pending.length) {
    const file = pending.pop()!;
    const path = MODULES_PATH + relative(fileURLToPath(COMPILED), fileURLToPath(file)).replaceAll("\\", "/");
    if (path in modules) continue;
    const text = await readFile(file, "utf8").catch((error: NodeJS.ErrnoException) => {
      if (error.code !== "ENOENT") throw error;
      throw new AqError(
        "AQ_FAILED",
        `aq dashboard: the page's module ${fileURLToPath(file)} is missing (npm run build)`,
      );
    });
    modules[path] = text;
    for (const match of text.matchAll(IMPORT)) {
      const specifier = match[1] ?? match[2]!;
      if (!specifier.startsWith("./") && !specifier.startsWith("../"))
        throw new AqError("AQ_FAILED", `aq dashboard: ${path} imports ${specifier}, which a browser cannot load`);
      const target = new URL(specifier, file);
      if (!fileURLToPath(target).startsWith(fileURLToPath(COMPILED)))
        throw new AqError("AQ_FAILED", `aq dashboard: ${path} imports ${specifier}, outside the compiled code`);
      pending.push(target);
    }
  }
  return modules;
}
