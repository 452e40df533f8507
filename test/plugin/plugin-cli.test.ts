import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseJob } from "../../src/core/job-file.ts";
import { QueueStore } from "../../src/core/queue-store.ts";
import { aq, ROOT, type CliResult } from "../helpers/cli.ts";
import { git, gitRepo } from "../helpers/git.ts";
import { jobText, metaOf, stageOf } from "../helpers/jobs.ts";
import { tempDir } from "../helpers/temp.ts";

/** A fixture case's config: test/fixtures/<name>/aq.config.ts; its plugin paths are relative to it. */
const fixture = (name: string) => join(ROOT, "test", "fixtures", name, "aq.config.ts");

/** Runs the CLI in a temp dir with a fixture's config; the queue goes to the temp dir, never into the fixture. */
function inCase(name: string) {
  const dir = tempDir();
  const queueDir = join(dir, "queue");
  const config = fixture(name);
  const run = (args: string[], env: Record<string, string> = {}) =>
    aq([...args, "--config", config], { cwd: dir, env: { AQ_QUEUE_DIR: queueDir, ...env } });
  /** `aq add` through the CLI: the plugins hear of the new job. */
  const add = async (body: string, id = "job-1") => {
    writeFileSync(join(dir, `${id}.md`), jobText({ engine: "shell" }, body));
    const result = await run(["add", `${id}.md`, "--id", id]);
    expect(result.code, result.stderr).toBe(0);
    return id;
  };
  /** A queued job written in this process, quicker than `aq add` where the test is about what follows. */
  const seed = async (body: string, id = "job-1", frontmatter: Record<string, unknown> = {}) => {
    const store = await QueueStore.open(queueDir, { gitQueue: false });
    const text = jobText({ engine: "shell", ...frontmatter }, body);
    await store.create({ id, text, spec: parseJob(text, `${id}.md`), origin: { kind: "local" } }, { by: "test" });
    return id;
  };
  return { dir, queueDir, config, run, add, seed };
}

function oneLineFailure(result: CliResult): string {
  expect(result.code, result.stderr).toBe(2);
  const lines = result.stderr.trimEnd().split("\n");
  expect(lines, result.stderr).toHaveLength(1);
  expect(lines[0]).not.toMatch(/\bat .*:\d+:\d+/);
  return lines[0]!;
}

describe("third-party plugins loaded from the config", () => {
  it("loads a plugin by a path relative to the config file and gives it its options as its valibot schema outputs them", async () => {
    const { dir, queueDir, run, add } = inCase("plugin-sink");
    await add("true");

    const result = await run(["run", "--once"]);

    expect(result.code, result.stderr).toBe(0);
    expect(stageOf(queueDir, "job-1")).toBe("review");
    // aq.logger is tagged with the plugin's name.
    expect(result.stderr.split("\n").filter((line) => line.includes("writing to"))).toEqual([
      expect.stringMatching(/\[jsonl-sink\] writing to events\.jsonl$/),
    ]);
    const lines = readFileSync(join(dir, "events.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    // label is upper-cased by the schema, format filled in by its default: apply() saw the output.
    const options = { type: "options", options: { file: "events.jsonl", label: "TEAM-A", format: "jsonl" } };
    expect(lines.filter((line) => line.type === "options")).toEqual([options, options]);
    expect(
      lines
        .filter((line) => line.type === "stage")
        .map((line) => `${line.label} ${line.jobId} ${line.from}→${line.to}`),
    ).toEqual([
      "TEAM-A job-1 null→queued",
      "TEAM-A job-1 queued→assigned",
      "TEAM-A job-1 assigned→building",
      "TEAM-A job-1 building→review",
    ]);
  });

  it("stops with exit 2 and one line naming the file, the plugin and the key when the options do not validate", async () => {
    const { dir, queueDir, config, run } = inCase("plugin-bad-options");
    const line = oneLineFailure(await run(["status", "--json"]));
    expect(line).toMatch(
      new RegExp(`^aq: ${escape(config)}: plugin "\\.\\./plugin-sink/plugins/sink\\.ts": options\\.label: `),
    );
    expect(existsSync(queueDir)).toBe(false);
    expect(existsSync(join(dir, "queue"))).toBe(false);
  });

  it("stops with exit 2 and one line when a plugin path does not exist", async () => {
    const { queueDir, config, run } = inCase("plugin-not-found");
    const line = oneLineFailure(await run(["status", "--json"]));
    expect(line).toBe(
      `aq: ${config}: plugin "./plugins/does-not-exist.ts": not found: no file ${join(config, "..", "plugins", "does-not-exist.ts")}`,
    );
    expect(existsSync(queueDir)).toBe(false);
  });

  it("stops with exit 2 and one line when a plugin's dependency is not loaded", async () => {
    const { queueDir, config, run } = inCase("plugin-missing-dependency");
    const line = oneLineFailure(await run(["status", "--json"]));
    expect(line).toMatch(new RegExp(`^aq: ${escape(config)}: plugin "needy" needs "missing"`));
    expect(existsSync(queueDir)).toBe(false);
  });

  it("never imports a plugin listed as [path, false]", async () => {
    const { dir, run } = inCase("plugin-off");
    const marker = join(dir, "imported.txt");
    const result = await run(["status", "--json"], { PLUGIN_MARKER_FILE: marker });
    expect(result.code, result.stderr).toBe(0);
    expect(existsSync(marker)).toBe(false);
  });

  it("imports the same module when it is listed normally (by absolute path), so the [path, false] test can fail", async () => {
    const dir = tempDir();
    const marker = join(dir, "imported.txt");
    const module = join(ROOT, "test", "fixtures", "plugin-off", "plugins", "marker.ts");
    writeFileSync(join(dir, "aq.config.json"), JSON.stringify({ plugins: [module] }));
    const result = await aq(["status", "--json"], { cwd: dir, env: { PLUGIN_MARKER_FILE: marker } });
    expect(result.code, result.stderr).toBe(0);
    expect(readFileSync(marker, "utf8")).toBe("imported\n");
  });

  it("loads a plugin by package name from the node_modules beside the config", async () => {
    const dir = tempDir();
    writePackage(dir, "aq-plugin-greet", { name: "aq-plugin-greet", type: "module", main: "index.js" });
    writeFileSync(join(dir, "aq.config.json"), JSON.stringify({ plugins: ["aq-plugin-greet"] }));
    const result = await aq(["greet"], { cwd: dir });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe("greetings from aq-plugin-greet\n");
  });

  // BUG (src/plugin/load.ts importPlugin): a package specifier is resolved with
  // createRequire(config dir).resolve(), i.e. CommonJS resolution, which ignores the "import"
  // condition of an exports map; when that throws, the fallback import(spec) resolves from aq's own
  // install, not from the config file. So an ESM-only plugin package installed in the project
  // ("exports": { ".": { "import": "./index.js" } }) is reported as "cannot be found".
  it("loads an ESM-only plugin package (exports with only an import condition) by package name", async () => {
    const dir = tempDir();
    writePackage(dir, "aq-plugin-greet", {
      name: "aq-plugin-greet",
      type: "module",
      exports: { ".": { import: "./index.js" } },
    });
    writeFileSync(join(dir, "aq.config.json"), JSON.stringify({ plugins: ["aq-plugin-greet"] }));
    const result = await aq(["greet"], { cwd: dir });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe("greetings from aq-plugin-greet\n");
  });

  it("runs a command a plugin registers as aq <name>, with its arguments and exit code", async () => {
    const { run, seed } = inCase("plugin-command");
    await seed("true", "one");
    await seed("true", "two");

    const hello = await run(["hello", "--name", "Ada"]);
    expect(hello.code, hello.stderr).toBe(0);
    expect(hello.stdout).toBe("hello Ada (2 queued)\n");

    const shout = await run(["hello", "--name", "Ada", "--shout"]);
    expect(shout.code, shout.stderr).toBe(4);
    expect(shout.stdout).toBe("HELLO ADA (2 QUEUED)\n");

    const unknown = await run(["goodbye"]);
    expect(oneLineFailure(unknown)).toBe('aq: unknown command "goodbye" (see aq --help)');
  });
});

describe("plugin hooks through the CLI", () => {
  it("makes aq ship fail with the reason when beforeShip vetoes, and leaves the job where it was", async () => {
    const { queueDir, run, seed } = inCase("ship-veto");
    await seed("true");
    const ran = await run(["run", "--once"]);
    expect(ran.code, ran.stderr).toBe(0);
    expect(stageOf(queueDir, "job-1")).toBe("review");

    const ship = await run(["ship", "job-1", "--force"]);

    expect(ship.code).toBe(1);
    expect(ship.stderr.trimEnd().split("\n")).toEqual([
      "aq: ship of job-1 refused: the lease of job-1 is stale (force=true)",
    ]);
    expect(stageOf(queueDir, "job-1")).toBe("review");
  });

  it("refuses aq ship when a beforeShip tap throws: exit 1, one line naming the plugin, nothing merged", async () => {
    const { dir, queueDir, run, seed } = inCase("gate-throws");
    const repo = gitRepo(join(dir, "repo"));
    const base = git(repo, "rev-parse", "main");
    await seed("echo work > work.txt", "job-1", { cwd: repo });
    const ran = await run(["run", "--once"]);
    expect(ran.code, ran.stderr).toBe(0);
    expect(stageOf(queueDir, "job-1")).toBe("review");

    const ship = await run(["ship", "job-1", "--force"], { GATE_THROWS: "beforeShip" });

    expect(ship.code).toBe(1);
    expect(ship.stderr.trimEnd().split("\n")).toEqual([
      "aq: ship of job-1 refused: broken-gate: beforeShip failed: lease service down",
    ]);
    expect(stageOf(queueDir, "job-1")).toBe("review");
    expect(git(repo, "rev-parse", "main")).toBe(base);
    expect(existsSync(join(repo, "work.txt"))).toBe(false);
  });

  it("claims nothing when a beforeClaim tap throws: aq run --once stops with exit 1 naming the plugin", async () => {
    const { queueDir, run, seed } = inCase("gate-throws");
    await seed("true");

    const result = await run(["run", "--once"], { GATE_THROWS: "beforeClaim" });

    expect(result.code).toBe(1);
    expect(stageOf(queueDir, "job-1")).toBe("queued");
    expect(metaOf(queueDir, "job-1").attempts).toBe(0);
    expect(result.stderr).toMatch(
      /aq run could not work through the queue: claim vetoed: broken-gate: beforeClaim failed: drain flag unreadable$/m,
    );
    expect(result.stderr).not.toContain("onStage failed");
  });

  it("logs a throwing onStage tap as one line naming the plugin and the hook, and the job still reaches review", async () => {
    const { queueDir, run, seed } = inCase("plugin-tap-throws");
    await seed("true");

    const result = await run(["run", "--once"]);

    expect(result.code, result.stderr).toBe(0);
    expect(stageOf(queueDir, "job-1")).toBe("review");
    const failures = result.stderr.split("\n").filter((line) => line.includes("onStage failed"));
    expect(failures).toHaveLength(3); // queued → assigned, assigned → building, building → review
    for (const line of failures) expect(line).toMatch(/\bthrower: onStage failed: sink down for job-1$/);
    expect(result.stderr).not.toContain("a second line that must not be printed");
  });

  it("keeps aq status --json intact when a status tap throws, with the other plugins' extensions applied", async () => {
    const { run, seed } = inCase("plugin-tap-throws");
    await seed("true");

    const result = await run(["status", "--json"]);

    expect(result.code, result.stderr).toBe(0);
    const status = JSON.parse(result.stdout) as {
      factoryId?: string;
      counts: Record<string, number>;
      jobs: Array<{ id: string; stage: string; origin: unknown }>;
      notes: string[];
    };
    expect(status.counts).toEqual({
      queued: 1,
      assigned: 0,
      building: 0,
      review: 0,
      testing: 0,
      shipped: 0,
      blocked: 0,
      failed: 0,
      dead_letter: 0,
      quarantine: 0,
    });
    expect(status.jobs).toEqual([expect.objectContaining({ id: "job-1", stage: "queued", origin: { kind: "local" } })]);
    expect(status.factoryId).toBe("factory-7");
    expect(status.notes).toEqual(["label: factory-7"]);
    expect(
      result.stderr
        .trimEnd()
        .split("\n")
        .filter((line) => line.includes("status failed")),
    ).toEqual([expect.stringMatching(/\bthrower: status failed: status exploded$/)]);
  });

  it("kills a long-running engine early and fails the job as fenced when a building tap aborts with FencedError", async () => {
    const { dir, queueDir, run, seed } = inCase("fence-while-building");
    // Without the fence this script would finish after 1.5s and leave finished.txt behind.
    await seed("echo started > started.txt\nsleep 1.5\necho done > finished.txt");

    const result = await run(["run", "--once"]);

    expect(result.code, result.stderr).toBe(0);
    expect(existsSync(join(dir, "started.txt"))).toBe(true);
    expect(stageOf(queueDir, "job-1")).toBe("failed");
    const meta = metaOf(queueDir, "job-1");
    expect(meta.reason).toBe("fenced");
    expect(meta.history.map((entry) => entry.to)).toEqual(["queued", "assigned", "building", "failed"]);
    expect(meta.events).toEqual([expect.objectContaining({ type: "fenced-abort", detail: "409 on renew" })]);
    // Wait past the moment the script would have finished: the engine's group is gone, not orphaned.
    const wouldFinishAt = statSync(join(dir, "started.txt")).mtimeMs + 1_500;
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, wouldFinishAt + 500 - Date.now())));
    expect(existsSync(join(dir, "finished.txt"))).toBe(false);
  });
});

/** An installed plugin package: node_modules/<name>/ with `packageJson` and an index.js that adds `aq greet`. */
function writePackage(dir: string, name: string, packageJson: Record<string, unknown>): void {
  const at = join(dir, "node_modules", name);
  mkdirSync(at, { recursive: true });
  writeFileSync(join(at, "package.json"), JSON.stringify(packageJson));
  writeFileSync(
    join(at, "index.js"),
    `export default {
  name: ${JSON.stringify(name)},
  apply(aq) {
    aq.registerCommand("greet", { description: "greets", run: () => void process.stdout.write("greetings from ${name}\\n") });
  },
};
`,
  );
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
