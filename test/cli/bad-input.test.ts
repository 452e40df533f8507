import { existsSync, mkdirSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { aq } from "../helpers/cli.ts";
import { idsIn, jobText, metaOf, stageOf } from "../helpers/jobs.ts";
import { cliProject, expectOneLine, requireBuild } from "../helpers/store-cli.ts";
import { tempDir } from "../helpers/temp.ts";

/** Bad input of every kind is one line and exit 2: durations past a timer's range, oversized job files, broken configs. */

beforeAll(requireBuild);

/** `aq add` of `text` from stdin: refused in one line, exit 2, nothing queued. */
async function refusedAdd(text: string): Promise<{ line: string; ms: number }> {
  const project = cliProject();
  const started = Date.now();
  const result = await project.run(["add", "-"], text);
  const ms = Date.now() - started;
  expect(result.code, result.stderr).toBe(2);
  expect(result.stdout).toBe("");
  expect(existsSync(join(project.queue, "queued")) ? idsIn(project.queue, "queued") : []).toEqual([]);
  return { line: expectOneLine(result.stderr), ms };
}

/** A file dropped into queued/ and one `aq run --drain`: the job it became, and its meta. */
async function dropped(text: string) {
  const project = cliProject();
  // aq status creates nothing (a read-only command): the stage directory is made here, as a person would.
  mkdirSync(join(project.queue, "queued"), { recursive: true });
  writeFileSync(join(project.dir, ".drop.tmp"), text);
  renameSync(join(project.dir, ".drop.tmp"), join(project.queue, "queued", "dropped.md"));
  const result = await project.run(["run", "--drain"]);
  expect(result.code, result.stderr).toBe(0);
  return { stage: stageOf(project.queue, "dropped"), meta: metaOf(project.queue, "dropped") };
}

const keys = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i]));

describe("durations have a range", () => {
  it("aq add refuses timeout: 30d (past Node's longest timer) in one line, exit 2", async () => {
    const { line } = await refusedAdd(jobText({ engine: "shell", timeout: "30d" }, "true"));
    expect(line).toMatch(/^aq: stdin: frontmatter timeout: "30d" is longer than 24d, the longest timer aq can keep$/);
    expect((await refusedAdd(jobText({ engine: "shell", stall: "1000d" }, "true"))).line).toMatch(
      /stall: "1000d" is longer than 24d/,
    );
  });

  it("a dropped job with timeout: 30d goes to failed/ with the reason, and is never run", async () => {
    const { stage, meta } = await dropped(jobText({ engine: "shell", timeout: "30d" }, "touch ran.txt"));
    expect(stage).toBe("failed");
    expect(meta.reason).toMatch(/timeout: "30d" is longer than 24d/);
  });

  it("timeout: 24d is kept: the engine is not killed early and Node prints no TimeoutOverflowWarning", async () => {
    const project = cliProject();
    expect(
      (
        await project.run(
          ["add", "-", "--id", "long"],
          jobText({ engine: "shell", timeout: "24d", stall: "24d" }, "sleep 0.3\necho finished"),
        )
      ).code,
    ).toBe(0);
    const ran = await project.run(["run", "--once"]);
    expect(ran.code, ran.stderr).toBe(0);
    expect(ran.stderr).not.toMatch(/TimeoutOverflowWarning/);
    expect(stageOf(project.queue, "long")).toBe("review");
  });

  it("a config duration past 24d stops the command in one line naming the file and the key, exit 2", async () => {
    const project = cliProject({ killGrace: "30d" });
    const result = await project.run(["status"]);
    expect(result.code).toBe(2);
    expect(expectOneLine(result.stderr)).toMatch(/aq\.config\.json: killGrace: "30d" is longer than 24d/);
  });
});

describe("job files have limits", () => {
  it("more than 256 frontmatter keys are refused in one line, exit 2", async () => {
    expect((await refusedAdd(jobText({ engine: "shell", ...keys(300) }, "true"))).line).toMatch(
      /^aq: stdin: frontmatter has more than 256 keys$/,
    );
  });

  it("200,000 keys (a job past 1 MiB) are refused at once, before any YAML is parsed", async () => {
    const lines = Array.from({ length: 200_000 }, (_, i) => `k${i}: ${i}`).join("\n");
    const { line, ms } = await refusedAdd(`---\nengine: shell\n${lines}\n---\ntrue\n`);
    expect(line).toMatch(/^aq: stdin: the job is \d+ bytes, over the limit of 1048576$/);
    expect(ms).toBeLessThan(10_000);
  });

  it("a frontmatter over 64 KiB, a prompt past 1 MiB and a billion laughs are each refused in one line", async () => {
    expect((await refusedAdd(jobText({ engine: "shell", note: "x".repeat(70_000) }, "true"))).line).toMatch(
      /^aq: stdin: frontmatter is \d+ bytes, over the limit of 65536$/,
    );
    expect((await refusedAdd(jobText({ engine: "shell" }, "y".repeat(1_100_000)))).line).toMatch(
      /^aq: stdin: the job is \d+ bytes, over the limit of 1048576$/,
    );
    const laughs = ["---", "engine: shell", 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    for (const [name, prev] of [
      ["b", "a"],
      ["c", "b"],
      ["d", "c"],
      ["e", "d"],
      ["f", "e"],
      ["g", "f"],
      ["h", "g"],
      ["i", "h"],
    ])
      laughs.push(
        `${name}: &${name} [*${prev},*${prev},*${prev},*${prev},*${prev},*${prev},*${prev},*${prev},*${prev}]`,
      );
    laughs.push("---", "true");
    expect((await refusedAdd(`${laughs.join("\n")}\n`)).line).toMatch(
      /^aq: stdin: frontmatter is not valid YAML: .*alias/i,
    );
  });

  it("a dropped job over the limits is moved to failed/ with a one-line reason", async () => {
    const { stage, meta } = await dropped(jobText({ engine: "shell", ...keys(300) }, "touch ran.txt"));
    expect(stage).toBe("failed");
    expect(meta.reason).toBe("dropped.md: frontmatter has more than 256 keys");
  });

  it("an unknown YAML tag (!!js/function) is refused in one line: no library warning is printed", async () => {
    const { line } = await refusedAdd(
      "---\nengine: shell\nhook: !!js/function 'function () { return 1 }'\n---\ntrue\n",
    );
    expect(line).toMatch(/^aq: stdin: frontmatter is not valid YAML: .*tag/i);
  });

  it("a duplicated top-level key is still refused", async () => {
    expect((await refusedAdd("---\nengine: shell\nengine: codex\n---\ntrue\n")).line).toMatch(
      /the key "engine" appears twice/,
    );
  });
});

describe("a broken config is one line, exit 2", () => {
  it("a package.json in the working directory that is not JSON", async () => {
    const dir = tempDir("aq-badpkg-");
    writeFileSync(join(dir, "package.json"), '{"name": ');
    const result = await aq(["status"], { cwd: dir });
    expect(result.code).toBe(2);
    expect(expectOneLine(result.stderr)).toMatch(
      /^aq: the config cannot be read: JSON Error in .*package\.json: Unexpected end of JSON input$/,
    );
    expect(existsSync(join(dir, "queue"))).toBe(false);
  });

  it("a config whose getter throws", async () => {
    const dir = tempDir("aq-getter-");
    writeFileSync(
      join(dir, "aq.config.mjs"),
      'export default { get concurrency() { throw new Error("no concurrency for you\\nat line two"); } };\n',
    );
    const result = await aq(["status"], { cwd: dir });
    expect(result.code).toBe(2);
    expect(expectOneLine(result.stderr)).toBe(
      "aq: the config cannot be read: no concurrency for you at line two\n".trimEnd(),
    );
  });

  it.each([
    ["a URL that does not parse", "http://alice:hunter2-pw@exa mple:4003/api"],
    ["a URL with a user and password", "http://alice:hunter2-pw@127.0.0.1:4003/api"],
  ])("AQ_FLEET_API with credentials (%s) is refused without repeating them", async (_what, api) => {
    const project = cliProject();
    const result = await aq(["run", "--drain"], { cwd: project.dir, env: { AQ_FLEET: "1", AQ_FLEET_API: api } });
    expect(result.code).toBe(2);
    const line = expectOneLine(result.stderr);
    expect(line).toMatch(/AQ_FLEET_API/);
    expect(line).toContain("http://***@");
    expect(result.stderr + result.stdout).not.toMatch(/alice|hunter2/);
  });
});
