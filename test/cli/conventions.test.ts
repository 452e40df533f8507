import { execFile, spawnSync } from "node:child_process";
import { promisify } from "node:util";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { COMMANDS } from "../../src/cli/main.ts";
import { summary } from "../../src/cli/_usage.ts";
import { aq, BIN, ROOT } from "../helpers/cli.ts";
import { stageOf } from "../helpers/jobs.ts";
import { tempDir } from "../helpers/temp.ts";
import { cliAdd, cliProject, expectOneLine, requireBuild, storeOf } from "../helpers/store-cli.ts";

beforeAll(requireBuild);

const run = promisify(execFile);

const pluginCommandConfig = join(ROOT, "test", "fixtures", "plugin-command", "aq.config.ts");

describe("aq's command line follows the conventions of gh, git and npm", () => {
  it("suggests the command or option a typo meant, in one line, exit 2", async () => {
    const project = cliProject();
    const cases = [
      { args: ["stauts"], says: 'unknown command "stauts"; did you mean "status"?' },
      { args: ["status", "--jsn"], says: "unknown option --jsn; did you mean --json?" },
      { args: ["run", "--onc"], says: "unknown option --onc; did you mean --once?" },
      { args: ["--verison"], says: "unknown option --verison; did you mean --version?" },
      {
        args: ["hello", "--shot", "--config", pluginCommandConfig],
        says: "unknown option --shot; did you mean --shout?",
      },
    ];
    const results = await Promise.all(cases.map(({ args }) => project.run(args)));
    for (const [i, { args, says }] of cases.entries()) {
      expect(results[i]!.code, args.join(" ")).toBe(2);
      expect(results[i]!.stdout).toBe("");
      expect(expectOneLine(results[i]!.stderr)).toContain(says);
    }
    expect(existsSync(project.queue)).toBe(false);
  });

  it("aq help CMD prints what aq CMD --help prints; usage lines start with aq; each command has one description", async () => {
    const project = cliProject();
    const names = Object.keys(COMMANDS);
    const [viaHelp, top, unknown, ...helps] = await Promise.all([
      project.run(["help", "status"]),
      project.run(["--help"]),
      project.run(["help", "stauts"]),
      ...names.map((name) => project.run([name, "--help"])),
    ]);
    expect(viaHelp.code, viaHelp.stderr).toBe(0);
    expect(viaHelp.stdout).toBe(helps[names.indexOf("status")]!.stdout);
    const width = Math.max(...names.map((n) => n.length));
    for (const [i, name] of names.entries()) {
      const description = ((await COMMANDS[name]!.load()).default.meta as { description: string }).description;
      // The one description: the first line of the command's help, and its first sentence in aq --help.
      expect(helps[i]!.stdout.split("\n")[0], name).toBe(description);
      expect(top.stdout).toContain(`  ${name.padEnd(width)}  ${summary(description)}\n`);
      expect(helps[i]!.stdout, name).toMatch(new RegExp(`^USAGE\\n  aq ${name}( |$)`, "m"));
      expect(helps[i]!.stdout, name).not.toMatch(/ +$/m);
    }
    expect(unknown.code).toBe(2);
    expect(expectOneLine(unknown.stderr)).toContain('did you mean "status"?');
  });

  it("aq --version and aq -v print the version", async () => {
    const project = cliProject();
    const [long, short] = await Promise.all([project.run(["--version"]), project.run(["-v"])]);
    const { version } = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string };
    expect(long).toMatchObject({ code: 0, stdout: `${version}\n` });
    expect(short.stdout).toBe(long.stdout);
  });

  it("a plugin's command is parsed like a built-in: its --help, its unknown options, --config anywhere", async () => {
    const dir = tempDir();
    const env = { AQ_QUEUE_DIR: join(dir, "queue") };
    const help = await aq(["hello", "--help", "--config", pluginCommandConfig], { cwd: dir, env });
    expect(help.code, help.stderr).toBe(0);
    expect(help.stdout).toMatch(/^USAGE\n {2}aq hello \[options\]$/m);
    expect(help.stdout).toContain("--shout");
    expect(help.stdout).toContain("Added by the hello plugin.");
    expect(help.stderr).toBe("");
    const viaHelp = await aq(["help", "hello", "--config", pluginCommandConfig], { cwd: dir, env });
    expect(viaHelp.stdout).toBe(help.stdout);

    const bogus = await aq(["hello", "--bogus", "--config", pluginCommandConfig], { cwd: dir, env });
    expect(bogus.code).toBe(2);
    expect(expectOneLine(bogus.stderr)).toBe("aq hello: unknown option --bogus (see aq hello --help)");

    const anywhere = [
      ["--config", pluginCommandConfig, "hello", "--name", "ann"],
      ["hello", "--config", pluginCommandConfig, "--name", "ann"],
      [`--config=${pluginCommandConfig}`, "hello", "--name", "ann"],
    ];
    const ran = await Promise.all(anywhere.map((args) => aq(args, { cwd: dir, env })));
    for (const [i, args] of anywhere.entries())
      expect(ran[i], args.join(" ")).toMatchObject({ code: 0, stdout: "hello ann (0 queued)\n" });
    const listed = await aq(["--help", "--config", pluginCommandConfig], { cwd: dir, env });
    expect(listed.stdout).toMatch(
      /PLUGIN COMMANDS\n {2}hello {2}Greets someone and counts the queued jobs \(plugin hello\)/,
    );
  });

  it("aq fleet-status --help prints its help and sends nothing; with fleet off it says how to turn it on", async () => {
    const requests: string[] = [];
    const server = createServer((request, response) => {
      requests.push(`${request.method} ${request.url}`);
      response.writeHead(500).end();
    });
    await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
    try {
      const dir = tempDir();
      const env = { AQ_FLEET: "1", AQ_FLEET_API: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api` };
      const help = await aq(["fleet-status", "--help"], { cwd: dir, env });
      expect(help.code, help.stderr).toBe(0);
      expect(help.stdout).toMatch(/^ {2}aq fleet-status \[options\]$/m);
      expect(requests).toEqual([]);
      const bogus = await aq(["fleet-status", "--bogus"], { cwd: dir, env });
      expect(bogus.code).toBe(2);
      expect(requests).toEqual([]);
      const off = await aq(["fleet-status"], { cwd: dir });
      expect(off.code).toBe(2);
      expect(expectOneLine(off.stderr)).toContain("AQ_FLEET=1");
      expect(readdirSync(dir)).toEqual([]);
    } finally {
      server.close();
    }
  });

  it("--json on every command that changes a job: block and retry answer with the job's id and stage", async () => {
    const project = cliProject();
    await cliAdd(project, "j1");
    const blocked = await project.run(["block", "j1", "--reason", "waiting for review", "--json"]);
    expect(blocked.code, blocked.stderr).toBe(0);
    expect(JSON.parse(blocked.stdout)).toEqual({ id: "j1", stage: "blocked", reason: "waiting for review" });
    const retried = await project.run(["retry", "j1", "--json"]);
    expect(retried.code, retried.stderr).toBe(0);
    expect(JSON.parse(retried.stdout)).toEqual({ id: "j1", stage: "queued" });
    const changing = ["add", "run", "promote", "ship", "retry", "block", "clean", "status"];
    const helps = await Promise.all(changing.map((name) => project.run([name, "--help"])));
    for (const [i, name] of changing.entries()) expect(helps[i]!.stdout, name).toContain("--json");
  });

  it("ids given to status, block, retry, promote and ship are checked before any file is touched", async () => {
    const project = cliProject();
    const outside = join(project.dir, "x");
    mkdirSync(outside);
    writeFileSync(join(outside, "meta.json"), "{}");
    const runs = [
      ["status", "../../x"],
      ["block", "../../x", "--reason", "r"],
      ["retry", "../x"],
      ["promote", "../../x"],
      ["ship", "../../x", "--force"],
      ["status", "../x", "--json"],
    ];
    const results = await Promise.all(runs.map((args) => project.run(args)));
    for (const [i, args] of runs.entries()) {
      expect(results[i]!.code, args.join(" ")).toBe(2);
      expect(expectOneLine(results[i]!.stderr)).toContain("invalid job id");
    }
    expect(existsSync(project.queue)).toBe(false);
  });

  it("read-only commands create nothing: aq status in an empty directory reports an empty queue and leaves the directory empty", async () => {
    const dir = tempDir();
    const human = await aq(["status"], { cwd: dir });
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toContain("empty");
    const json = await aq(["status", "--json"], { cwd: dir });
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ jobs: [], counts: { queued: 0 } });
    const missing = await aq(["status", "nope"], { cwd: dir });
    expect(missing.code).not.toBe(0);
    expectOneLine(missing.stderr);
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe("shell completion", () => {
  it("aq completion bash|zsh|fish prints a script; another shell is refused in one line", async () => {
    const dir = tempDir();
    const scripts = await Promise.all(["bash", "zsh", "fish"].map((shell) => aq(["completion", shell], { cwd: dir })));
    for (const script of scripts) {
      expect(script.code, script.stderr).toBe(0);
      expect(script.stdout).toContain("aq __complete");
    }
    expect(spawnSync("bash", ["-n"], { input: scripts[0]!.stdout }).status).toBe(0);
    const tcsh = await aq(["completion", "tcsh"], { cwd: dir });
    expect(tcsh.code).toBe(2);
    expect(expectOneLine(tcsh.stderr)).toContain("bash, zsh, fish");
  });

  it("in bash, completes commands, a command's options and the ids of queued jobs", async () => {
    const project = cliProject();
    await cliAdd(project, "fix-login");
    await cliAdd(project, "fix-logout");
    const bin = join(project.dir, "bin");
    mkdirSync(bin);
    writeFileSync(join(bin, "aq"), `#!/bin/sh\nexec "${process.execPath}" "${BIN}" "$@"\n`);
    chmodSync(join(bin, "aq"), 0o755);
    const script = (await aq(["completion", "bash"], { cwd: project.dir })).stdout;
    const complete = async (line: string) => {
      const words = line.split(" ");
      const program = `${script}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(" ")}); COMP_CWORD=${words.length - 1}; _aq_complete; printf '%s\\n' "\${COMPREPLY[@]}"`;
      const { stdout } = await run("bash", ["-c", program], {
        cwd: project.dir,
        encoding: "utf8",
        env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
      });
      return stdout.split("\n").filter(Boolean).sort();
    };
    const answers = await Promise.all(["aq st", "aq status --j", "aq block fix-", "aq completion f"].map(complete));
    expect(answers).toEqual([["status"], ["--json"], ["fix-login", "fix-logout"], ["fish"]]);
  }, 90_000);
});

describe("config search stops at the project's boundary", () => {
  it("a config planted above the repository's root is not loaded; --config names one anywhere", async () => {
    const outer = tempDir();
    writeFileSync(join(outer, "aq.config.json"), JSON.stringify({ queueDir: "planted-queue" }));
    const repo = join(outer, "checkout", "repo");
    mkdirSync(join(repo, "src"), { recursive: true });
    spawnSync("git", ["init", "-q", repo]);
    writeFileSync(join(repo, "src", "job.md"), "---\nengine: shell\n---\necho hi\n");

    const added = await aq(["add", "job.md", "--json"], { cwd: join(repo, "src") });
    expect(added.code, added.stderr).toBe(0);
    expect(JSON.parse(added.stdout).dir).toContain(join(repo, "src", "queue"));
    expect(existsSync(join(outer, "planted-queue"))).toBe(false);

    const named = await aq(["add", "job.md", "--json", "--config", join(outer, "aq.config.json")], {
      cwd: join(repo, "src"),
    });
    expect(named.code, named.stderr).toBe(0);
    expect(JSON.parse(named.stdout).dir).toContain(join(outer, "planted-queue"));
  });

  it("outside any repository and outside the home directory, only the working directory is searched", async () => {
    const outer = tempDir();
    writeFileSync(join(outer, "aq.config.json"), JSON.stringify({ queueDir: "planted-queue" }));
    const cwd = join(outer, "work");
    mkdirSync(cwd);
    const status = await aq(["status", "--json"], { cwd, env: { HOME: join(outer, "elsewhere-home") } });
    expect(status.code, status.stderr).toBe(0);
    expect(readdirSync(outer).sort()).toEqual(["aq.config.json", "work"]);
    expect(JSON.parse(status.stdout).jobs).toEqual([]);
    // Below the home directory (and in no repository) the search goes up to the home directory.
    const below = await aq(["status"], { cwd, env: { HOME: outer } });
    expect(below.stdout).toContain(`queue ${join(outer, "planted-queue")}`);
    const { configSearchDirs } = await import("../../src/config/load.ts");
    expect(configSearchDirs(cwd, outer)).toEqual([cwd, outer]);
    expect(configSearchDirs(cwd, join(outer, "elsewhere-home"))).toEqual([cwd]);
  });
});

describe("aq add refuses what could only fail later", () => {
  it("an unknown engine, a missing cwd and a typo of a job key: one line, exit 2, nothing queued; other unknown keys stay warnings", async () => {
    const project = cliProject({ engines: { aiderx: { command: ["aider"] } } });
    const write = (name: string, text: string) => writeFileSync(join(project.dir, name), text);
    write("engine.md", "---\nengine: aider\n---\nhi\n");
    write("near.md", "---\nengine: shel\n---\nhi\n");
    write("cwd.md", "---\nengine: shell\ncwd: /nonexistent/aq-test\n---\nhi\n");
    write("typo.md", "---\nengin: shell\n---\nhi\n");
    write("plugin-key.md", '---\nengine: shell\nslack: "#agents"\n---\nhi\n');
    write("configured.md", "---\nengine: aiderx\n---\nhi\n");
    const cases = [
      {
        file: "engine.md",
        says: 'engine "aider" is neither built in nor in the config\'s engines; did you mean "aiderx"?',
      },
      { file: "near.md", says: 'did you mean "shell"?' },
      { file: "cwd.md", says: "cwd /nonexistent/aq-test does not exist" },
      { file: "typo.md", says: 'unknown key "engin"; did you mean "engine"?' },
    ];
    const results = await Promise.all(cases.map(({ file }) => project.run(["add", file])));
    for (const [i, { file, says }] of cases.entries()) {
      const result = results[i]!;
      expect(result.code, file).toBe(2);
      expect(result.stdout).toBe("");
      const line = expectOneLine(result.stderr);
      expect(line.startsWith(`aq: ${file}: `), line).toBe(true);
      expect(line).toContain(says);
    }
    const store = await storeOf(project.queue);
    expect((await store.list()).jobs).toEqual([]);
    const [kept, configured] = await Promise.all([
      project.run(["add", "plugin-key.md", "--id", "kept"]),
      project.run(["add", "configured.md", "--id", "configured"]),
    ]);
    expect(kept.code, kept.stderr).toBe(0);
    expect(kept.stderr).toContain("unknown frontmatter keys kept for plugins: slack");
    expect(configured.code, configured.stderr).toBe(0);
    expect(stageOf(project.queue, "kept")).toBe("queued");
  });
});
