import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { ArgsDef } from "citty";
import { beforeAll, describe, expect, it } from "vitest";
import { COMMANDS } from "../../src/cli/main.ts";
import { ROOT } from "../helpers/cli.ts";
import { cliProject, expectOneLine, requireBuild } from "../helpers/store-cli.ts";

beforeAll(requireBuild);

/** The options docs/design.md ("Command line") documents for each command, spelled as documented. */
const DESIGN_OPTIONS: Record<string, string[]> = {
  add: ["--id"],
  run: ["--once", "--drain", "--concurrency"],
  status: ["--json"],
  promote: [],
  ship: ["--force"],
  retry: [],
  block: ["--reason"],
  clean: ["--force"],
};

const kebab = (name: string) => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

describe("aq --help, --version and bad usage", () => {
  it("aq --help lists every command and exits 0", async () => {
    const project = cliProject();
    const [long, short] = await Promise.all([project.run(["--help"]), project.run(["-h"])]);
    for (const result of [long, short]) {
      expect(result.code, result.stderr).toBe(0);
      for (const name of [...Object.keys(DESIGN_OPTIONS), ...Object.keys(COMMANDS)])
        expect(result.stdout).toMatch(new RegExp(`^\\s+${name}\\s`, "m"));
      expect(result.stdout).toContain("--help");
    }
  });

  it("the commands docs/design.md (Command line) documents for the offline runner all exist", () => {
    for (const name of Object.keys(DESIGN_OPTIONS)) expect(Object.keys(COMMANDS)).toContain(name);
  });

  for (const name of Object.keys(COMMANDS)) {
    it(`aq ${name} --help exits 0 and mentions each of its options`, async () => {
      const project = cliProject();
      const [long, short] = await Promise.all([project.run([name, "--help"]), project.run([name, "-h"])]);
      const command = (await COMMANDS[name]!.load()).default;
      const args = (command.args ?? {}) as ArgsDef;
      for (const result of [long, short]) {
        expect(result.code, result.stderr).toBe(0);
        expect(result.stdout).toContain(name);
        for (const flag of DESIGN_OPTIONS[name] ?? []) expect(result.stdout).toMatch(new RegExp(`${flag}\\b`));
        for (const [key, def] of Object.entries(args)) {
          if (def.type === "positional") continue;
          const mentioned = result.stdout.includes(`--${key}`) || result.stdout.includes(`--${kebab(key)}`);
          expect(mentioned, `aq ${name} --help should mention --${kebab(key)}`).toBe(true);
        }
      }
      // help is an answer, not a log: nothing on stderr
      expect(long.stderr).toBe("");
    });
  }

  it("aq add --help spells the tracker option --from-tracker, as docs/design.md (Command line) documents it", async () => {
    const project = cliProject();
    const result = await project.run(["add", "--help"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("--from-tracker");
  });

  it("an unknown command exits 2 with one line naming it", async () => {
    const project = cliProject();
    const result = await project.run(["frobnicate", "now"]);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe("");
    expect(expectOneLine(result.stderr)).toContain("frobnicate");
  });

  it("an unknown option exits 2 with one line naming it", async () => {
    const project = cliProject();
    const runs = [
      { args: ["status", "--bogus"], flag: "--bogus" },
      { args: ["add", "job.md", "--priority-boost=3"], flag: "--priority-boost" },
      { args: ["run", "--forever"], flag: "--forever" },
      { args: ["--bogus"], flag: "--bogus" },
    ];
    const results = await Promise.all(runs.map(({ args }) => project.run(args)));
    for (const [i, { args, flag }] of runs.entries()) {
      const result = results[i]!;
      expect(result.code, args.join(" ")).toBe(2);
      expect(result.stdout).toBe("");
      expect(expectOneLine(result.stderr)).toContain(flag);
    }
  });

  it("aq --version prints the package.json version", async () => {
    const project = cliProject();
    const { version } = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string };
    const result = await project.run(["--version"]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe(`${version}\n`);
  });
});
