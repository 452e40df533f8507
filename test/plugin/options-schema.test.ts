import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, expectTypeOf, it } from "vitest";
import { resolveConfig } from "../../src/config/load.ts";
import { definePlugin, type OptionsSchema, v } from "../../src/index.ts";
import { importPlugins } from "../../src/plugin/load.ts";
import { typeErrorsIn } from "../helpers/plugin-typecheck.ts";
import { tempDir } from "../helpers/temp.ts";

/** A schema made by another copy of a schema library (the project's own valibot, zod): only its Standard Schema shape is shared. */
function foreignSchema<T>(check: (value: unknown) => T | string): OptionsSchema<T> {
  return {
    "~standard": {
      version: 1,
      vendor: "elsewhere",
      validate: (value) => {
        const result = check(value);
        return typeof result === "string"
          ? { issues: [{ message: result, path: [{ key: "port" }] }] }
          : { value: result };
      },
    },
  };
}

const portSchema = foreignSchema((value) => {
  const port = (value as { port?: unknown }).port;
  return typeof port === "number" ? { port, host: "localhost" } : "must be a number";
});

describe("a plugin's options schema: any Standard Schema, whichever copy of its library made it", () => {
  it("types apply()'s options as the schema's output, for agent-queue's v and for a foreign schema (types)", () => {
    definePlugin({
      name: "foreign",
      options: portSchema,
      apply(_aq, options) {
        expectTypeOf(options).toEqualTypeOf<{ port: number; host: string }>();
      },
    });
    definePlugin({
      name: "own-v",
      options: v.object({ url: v.pipe(v.string(), v.url()), tries: v.optional(v.number(), 2) }),
      apply(_aq, options) {
        expectTypeOf(options).toEqualTypeOf<{ url: string; tries: number }>();
        // @ts-expect-error tries is a number
        const tries: string = options.tries;
        void tries;
      },
    });
  });

  it("type-checks under tsc", () => {
    expect(typeErrorsIn(import.meta.filename)).toEqual([]);
  });

  it("checks options through the schema's own validate(): its output reaches apply(), its first issue is the one line", async () => {
    const dir = tempDir();
    const file = join(dir, "aq.config.json");
    writeFileSync(file, "{}");
    writeFileSync(
      join(dir, "plugin.mjs"),
      `export default { name: "foreign", options: { "~standard": { version: 1, vendor: "x", validate: async (value) => typeof value.port === "number" ? { value: { port: value.port + 1 } } : { issues: [{ message: "must be a number", path: ["port"] }] } } }, apply() {} };\n`,
    );
    const config = resolveConfig({}, file, dir, {});
    const [loaded] = await importPlugins([{ specifier: "./plugin.mjs", options: { port: 1 }, builtin: false }], config);
    expect(loaded!.options).toEqual({ port: 2 });
    await expect(
      importPlugins([{ specifier: "./plugin.mjs", options: { port: "x" }, builtin: false }], config),
    ).rejects.toThrow(`${file}: plugin "./plugin.mjs": options.port: must be a number`);
  });
});
