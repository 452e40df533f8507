import { describe, expect, expectTypeOf, it } from "vitest";
import { defineConfig, type UserConfig } from "../../src/index.ts";
import { typeErrorsIn } from "../helpers/plugin-typecheck.ts";

describe("defineConfig", () => {
  it("returns the config unchanged", () => {
    const config: UserConfig = { queueDir: "q", plugins: [["fleet", { enabled: true }]] };
    expect(defineConfig(config)).toBe(config);
  });

  it("accepts every documented key and each plugin entry form (types)", () => {
    const config = defineConfig({
      queueDir: "queue",
      workdir: "..",
      defaults: { engine: "claude", timeout: "4h", stall: "20m", maxAttempts: 3, yolo: true },
      engines: {
        mine: {
          command: ["my-agent", "{yolo}", "--prompt-file", "{promptFile}"],
          prompt: "file",
          yolo: ["--yes"],
          env: { MODE: "ci" },
        },
        other: { command: ["other"] },
      },
      concurrency: 2,
      retry: { backoff: "10s", maxBackoff: "15m" },
      killGrace: "10s",
      pollInterval: "1s",
      worktrees: { dir: ".worktrees", setup: "npm ci" },
      gitQueue: "auto",
      plugins: [
        "./plugins/sink.ts",
        ["fleet", { enabled: true, api: "http://localhost:4003/api" }],
        ["tracker-echo", false],
        "aq-plugin-slack",
      ],
    });
    expectTypeOf(config).toEqualTypeOf<UserConfig>();
    expectTypeOf(defineConfig({})).toEqualTypeOf<UserConfig>();
    expectTypeOf<UserConfig>().toHaveProperty("plugins");
    expectTypeOf<UserConfig["gitQueue"]>().toEqualTypeOf<boolean | "auto" | undefined>();
    expectTypeOf<UserConfig["concurrency"]>().toEqualTypeOf<number | undefined>();
  });

  it("rejects unknown keys and wrongly typed values (types)", () => {
    // @ts-expect-error an unknown top-level key
    defineConfig({ queueDir: "q", bogus: 1 });
    // @ts-expect-error an unknown key in defaults
    defineConfig({ defaults: { engine: "shell", retries: 2 } });
    // @ts-expect-error concurrency is a number
    defineConfig({ concurrency: "2" });
    // @ts-expect-error gitQueue is true, false or "auto"
    defineConfig({ gitQueue: "yes" });
    // @ts-expect-error a plugin entry's second element is options or false, never true
    defineConfig({ plugins: [["fleet", true]] });
    // @ts-expect-error an engine's prompt is stdin, arg or file
    defineConfig({ engines: { x: { command: ["x"], prompt: "pipe" } } });
    // @ts-expect-error an engine needs a command
    defineConfig({ engines: { x: { prompt: "stdin" } } });
  });

  it("type-checks under tsc: the expectations above hold and every @ts-expect-error is needed", () => {
    expect(typeErrorsIn(import.meta.filename)).toEqual([]);
  });
});
