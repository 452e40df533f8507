import { readFileSync, statSync } from "node:fs";
import { registerHooks } from "node:module";
import { pathToFileURL } from "node:url";

const forcedModules = new Set<string>();
let hooked = false;

/**
 * Imports a `.ts` file as an ES module whatever the nearest package.json says. Node strips the
 * types itself (no compiler at run time); a load hook tells it the file is ESM, so a config or
 * plugin written with `import`/`export` also loads in a repository typed "commonjs".
 */
export async function importTypeScript(path: string): Promise<Record<string, unknown>> {
  const url = pathToFileURL(path);
  forcedModules.add(url.pathname);
  if (!hooked) {
    hooked = true;
    registerHooks({
      // `import { defineConfig } from "aq"` works even where aq is not installed in the repository.
      resolve(specifier, context, nextResolve) {
        try {
          return nextResolve(specifier, context);
        } catch (error) {
          if (specifier !== "aq" || !context.parentURL || !forcedModules.has(new URL(context.parentURL).pathname)) throw error;
          return { url: new URL("../index.js", import.meta.url).href, shortCircuit: true };
        }
      },
      load(specifier, context, nextLoad) {
        const target = new URL(specifier);
        if (target.protocol === "file:" && forcedModules.has(target.pathname)) {
          return { format: "module-typescript", source: readFileSync(target), shortCircuit: true };
        }
        return nextLoad(specifier, context);
      },
    });
  }
  // A changed file is imported afresh (long-lived processes, tests); an unchanged one is cached.
  url.searchParams.set("mtime", String(statSync(path).mtimeMs));
  return (await import(url.href)) as Record<string, unknown>;
}
