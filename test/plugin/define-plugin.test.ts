import * as v from "valibot";
import { describe, expect, expectTypeOf, it } from "vitest";
import type { ResolvedConfig } from "../../src/config/load.ts";
import type { Logger } from "../../src/core/logger.ts";
import {
  definePlugin,
  type AqPlugin,
  type PluginApi,
  type PluginCommand,
  type QueueReader,
  type RunnerHooks,
  type StageEvent,
  type StatusReport,
} from "../../src/index.ts";
import { typeErrorsIn } from "../helpers/plugin-typecheck.ts";

describe("definePlugin", () => {
  it("returns the plugin unchanged, so a plain object of the same shape works too", () => {
    const plain = { name: "plain", apply() {} };
    expect(definePlugin(plain)).toBe(plain);
  });

  it("infers the options type from a valibot schema (types)", () => {
    const plugin = definePlugin({
      name: "sink",
      options: v.object({
        url: v.string(),
        retries: v.optional(v.number(), 3),
        level: v.optional(v.picklist(["info", "error"])),
      }),
      apply(_aq, options) {
        expectTypeOf(options).toEqualTypeOf<{ url: string; retries: number; level?: "info" | "error" | undefined }>();
        // @ts-expect-error url is a string, not a number
        const n: number = options.url;
        void n;
      },
    });
    expectTypeOf(plugin).toEqualTypeOf<
      AqPlugin<{ url: string; retries: number; level?: "info" | "error" | undefined }>
    >();

    // Without a schema, options are a plain record.
    definePlugin({
      name: "bare",
      apply(_aq, options) {
        expectTypeOf(options).toEqualTypeOf<Record<string, unknown>>();
      },
    });
  });

  it("types the aq argument of apply: hooks, logger, config, queue, registerCommand, extendStatus (types)", () => {
    definePlugin({
      name: "typed",
      dependencies: ["fleet"],
      async apply(aq) {
        expectTypeOf(aq).toEqualTypeOf<PluginApi>();
        expectTypeOf(aq.hooks).toEqualTypeOf<RunnerHooks>();
        expectTypeOf(aq.logger).toEqualTypeOf<Logger>();
        expectTypeOf(aq.config).toEqualTypeOf<ResolvedConfig>();
        expectTypeOf(aq.queue).toEqualTypeOf<QueueReader>();
        expectTypeOf(aq.registerCommand).parameters.toEqualTypeOf<[string, PluginCommand]>();
        expectTypeOf(aq.extendStatus)
          .parameter(0)
          .toEqualTypeOf<(status: StatusReport) => StatusReport | Promise<StatusReport>>();

        aq.hooks.onStage.tap("typed", (event) => {
          expectTypeOf(event).toEqualTypeOf<StageEvent>();
          expectTypeOf(event.jobId).toEqualTypeOf<string>();
        });
        aq.hooks.beforeClaim.tapPromise("typed", async (ctx) => (ctx.draining ? { reason: "draining" } : undefined));
        // @ts-expect-error a veto carries a reason
        aq.hooks.beforeShip.tapPromise("typed", async () => ({ why: "no" }));
        aq.hooks.building.tap("typed", (ctx) => {
          expectTypeOf(ctx.signal).toEqualTypeOf<AbortSignal>();
          expectTypeOf(ctx.abort).toEqualTypeOf<(error: Error) => void>();
        });
        aq.registerCommand("typed-cmd", { description: "d", args: { name: { type: "string" } }, run: () => 0 });
        // @ts-expect-error a command needs a description and run()
        aq.registerCommand("broken", { args: {} });
        aq.extendStatus((status) => ({ ...status, factoryId: "f" }));
        // @ts-expect-error extendStatus must give back a status
        aq.extendStatus(() => 42);
        aq.logger.info("typed");
      },
    });

    // @ts-expect-error a plugin needs a name
    definePlugin({ apply() {} });
    // @ts-expect-error a plugin needs apply()
    definePlugin({ name: "no-apply" });
  });

  it("type-checks under tsc: the expectations above hold and every @ts-expect-error is needed", () => {
    expect(typeErrorsIn(import.meta.filename)).toEqual([]);
  });
});
