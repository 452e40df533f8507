import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { git } from "../helpers/git.ts";
import { gitWorld } from "../helpers/git-world.ts";
import { logOf } from "../helpers/jobs.ts";
import { tempDir } from "../helpers/temp.ts";

/**
 * devin has no package to test with, so it is tested the way a user would add it: as an engine
 * defined in the config. A stand-in `devin` program records how it was called, reads its
 * prompt file, runs the prompt's `RUN:` line and prints its `SAY:` line.
 */
function fakeDevin(dir: string): {
  program: string;
  calls: () => Array<{ argv: string[]; unattended: string | undefined; prompt: string }>;
} {
  const program = join(dir, "devin");
  const record = join(dir, "devin-calls.jsonl");
  writeFileSync(
    program,
    `#!/usr/bin/env node
const fs = require("node:fs");
const { execSync } = require("node:child_process");
const argv = process.argv.slice(2);
const prompt = fs.readFileSync(argv[argv.indexOf("--prompt-file") + 1], "utf8");
fs.appendFileSync(${JSON.stringify(record)}, JSON.stringify({ argv, unattended: process.env.DEVIN_UNATTENDED, prompt }) + "\\n");
const run = /^RUN: (.*)$/m.exec(prompt);
if (run) execSync(run[1], { stdio: "inherit" });
console.log((/^SAY: (.*)$/m.exec(prompt) || [])[1] || "done");
`,
  );
  chmodSync(program, 0o755);
  return {
    program,
    calls: () =>
      readFileSync(record, "utf8")
        .trim()
        .split("\n")
        .map((line) => JSON.parse(line) as { argv: string[]; unattended: string | undefined; prompt: string }),
  };
}

describe("an engine defined in the config (devin)", () => {
  const setup = () => {
    const devin = fakeDevin(tempDir("aq-devin-"));
    const w = gitWorld({
      config: {
        engines: {
          devin: {
            command: [devin.program, "{yolo}", "--prompt-file", "{promptFile}"],
            prompt: "file",
            yolo: ["--permission-mode", "dangerous"],
            yoloEnv: { DEVIN_UNATTENDED: "1" },
          },
        },
      },
    });
    return { w, devin };
  };

  test("runs with its yolo flags and yolo environment, edits the worktree, and the change is committed for review", async () => {
    const { w, devin } = setup();
    const body = "Write notes.\nRUN: echo 'notes by devin' > notes.txt\nSAY: notes written";
    await w.add("notes", { engine: "devin", yolo: true }, body);
    await w.drain();

    expect(w.stage("notes"), logOf(w.queue, "notes")).toBe("review");
    expect(git(w.repo, "show", "aq/notes:notes.txt")).toBe("notes by devin");
    const [call, ...more] = devin.calls();
    expect(more).toEqual([]);
    expect(call!.argv.slice(0, 3)).toEqual(["--permission-mode", "dangerous", "--prompt-file"]);
    expect(call!.argv[3]).toMatch(/prompt\.txt$/);
    expect(call!.prompt).toBe(`${body}\n`);
    expect(call!.unattended).toBe("1");
    expect(logOf(w.queue, "notes")).toContain("notes written");
  });

  test("yolo: false gives neither the flags nor the environment", async () => {
    const { w, devin } = setup();
    await w.add("careful", { engine: "devin", yolo: false }, "SAY: nothing to do");
    await w.drain();

    expect(w.stage("careful")).toBe("review");
    const [call] = devin.calls();
    expect(call!.argv).toEqual(["--prompt-file", expect.stringMatching(/prompt\.txt$/)]);
    expect(call!.unattended).toBeUndefined();
  });
});
