import { describe, expect, it } from "vitest";
import type { PluginEntry } from "../../src/config/schema.ts";
import { AqError } from "../../src/core/errors.ts";
import { choosePlugins } from "../../src/plugin/load.ts";

// The built-ins this build may or may not ship yet: the switch rules are tested with both present.
const AVAILABLE = ["tracker-echo", "fleet"];
const choose = (entries: PluginEntry[], env: NodeJS.ProcessEnv = {}) =>
  choosePlugins(entries, env, "/repo/aq.config.ts", AVAILABLE);
const names = (entries: PluginEntry[], env: NodeJS.ProcessEnv = {}) =>
  choose(entries, env).map((choice) => choice.specifier);

describe("choosePlugins: the fleet switch", () => {
  it("leaves fleet off by default, and off when it is listed without enabled: true", () => {
    expect(names([])).toEqual(["tracker-echo"]);
    expect(names(["fleet"])).toEqual(["tracker-echo"]);
    expect(names([["fleet", { enabled: false, api: "http://x" }]])).toEqual(["tracker-echo"]);
    expect(names([["fleet", { api: "http://x" }]])).toEqual(["tracker-echo"]);
  });

  it("turns fleet on with AQ_FLEET=1, with no config entry", () => {
    expect(choose([], { AQ_FLEET: "1" })).toEqual([
      { specifier: "tracker-echo", options: {}, builtin: true },
      { specifier: "fleet", options: {}, builtin: true },
    ]);
  });

  it("turns fleet on with AQ_FLEET unset and ['fleet', { enabled: true }], passing its options", () => {
    const fleet = choose([["fleet", { enabled: true, api: "http://coordinator/api" }]]).find(
      (choice) => choice.specifier === "fleet",
    );
    expect(fleet).toEqual({
      specifier: "fleet",
      options: { enabled: true, api: "http://coordinator/api" },
      builtin: true,
    });
  });

  it("lets AQ_FLEET=0 win over enabled: true", () => {
    expect(names([["fleet", { enabled: true }]], { AQ_FLEET: "0" })).toEqual(["tracker-echo"]);
  });

  it("lets AQ_FLEET=1 win over ['fleet', false]", () => {
    expect(names([["fleet", false]], { AQ_FLEET: "1" })).toEqual(["tracker-echo", "fleet"]);
  });

  it("rejects an AQ_FLEET that is neither 0 nor 1 as bad input", () => {
    for (const value of ["yes", "true", "2"]) {
      let caught: unknown;
      try {
        choose([["fleet", { enabled: true }]], { AQ_FLEET: value });
      } catch (error) {
        caught = error;
      }
      expect(caught, `AQ_FLEET=${value}`).toBeInstanceOf(AqError);
      expect((caught as AqError).exitCode).toBe(2);
      expect((caught as AqError).message).toContain("AQ_FLEET");
      expect((caught as AqError).message).toContain(JSON.stringify(value));
      expect((caught as AqError).message).not.toContain("\n");
    }
  });
});

describe("choosePlugins: built-ins and listed plugins", () => {
  it("keeps tracker-echo on unless it is listed with false", () => {
    expect(names([["tracker-echo", false]])).toEqual([]);
    expect(names([["tracker-echo", false]], { AQ_FLEET: "1" })).toEqual(["fleet"]);
    expect(choose([["tracker-echo", { quiet: true }]])).toEqual([
      { specifier: "tracker-echo", options: { quiet: true }, builtin: true },
    ]);
  });

  it("adds listed third-party plugins in config order with their options, and leaves out those listed with false", () => {
    const chosen = choose([
      "./plugins/a.ts",
      ["./plugins/off.ts", false],
      ["aq-plugin-slack", { channel: "#ops" }],
      "/abs/b.ts",
    ]);
    expect(chosen).toEqual([
      { specifier: "tracker-echo", options: {}, builtin: true },
      { specifier: "./plugins/a.ts", options: {}, builtin: false },
      { specifier: "aq-plugin-slack", options: { channel: "#ops" }, builtin: false },
      { specifier: "/abs/b.ts", options: {}, builtin: false },
    ]);
  });
});
