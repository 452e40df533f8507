import { spawn } from "node:child_process";
import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT } from "../helpers/cli.ts";

/**
 * `npm run test:package`: aq as a user gets it. The project is packed, the tarball installed into a
 * fresh project outside the checkout, with nothing of the checkout on PATH (only a supported
 * `node`, as a user's machine has), and used there: `npx aq`, the README's first job on a real git
 * repository, `tsc --noEmit` on a typed config and plugin, and a plugin installed as a package.
 */

interface Shell {
  readonly dir: string;
  run(
    file: string,
    args: readonly string[],
    options?: { cwd?: string; allowFail?: boolean },
  ): Promise<{ code: number; stdout: string; stderr: string }>;
}

let project: Shell;
let repo: string;

const lockVersion = (name: string) =>
  (
    JSON.parse(readFileSync(join(ROOT, "package-lock.json"), "utf8")) as {
      packages: Record<string, { version: string }>;
    }
  ).packages[`node_modules/${name}`]!.version;

function shellIn(dir: string, path: string): Shell {
  const env: NodeJS.ProcessEnv = {
    PATH: path,
    HOME: process.env.HOME,
    NO_COLOR: "1",
    npm_config_cache: process.env.npm_config_cache,
    LANG: "C.UTF-8",
  };
  // What npm needs to reach the registry from this machine (a proxy, a CA that signs it), as a person's shell has.
  for (const key of Object.keys(process.env))
    if (
      /^(NODE_EXTRA_CA_CERTS|SSL_CERT_(FILE|DIR)|(HTTPS?|NO)_PROXY|npm_config_(registry|cafile|ca|proxy|https_proxy|noproxy|strict_ssl))$/i.test(
        key,
      )
    )
      env[key] = process.env[key];
  for (const key of Object.keys(env)) if (env[key] === undefined) delete env[key];
  return {
    dir,
    async run(file, args, options = {}) {
      // stdin closed (never a prompt), stdout and stderr collected; a hang ends at the timeout.
      const child = spawn(file, args as string[], { cwd: options.cwd ?? dir, env, stdio: ["ignore", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
      const timer = setTimeout(() => child.kill("SIGKILL"), 240_000);
      const code = await new Promise<number>((done) => child.once("close", (status) => done(status ?? 137)));
      clearTimeout(timer);
      if (code !== 0 && !options.allowFail)
        throw new Error(`${file} ${args.join(" ")} failed (${code}): ${stderr}${stdout}`);
      return { code, stdout, stderr };
    },
  };
}

let work: string;

afterAll(() => {
  if (work && !process.env.AQ_KEEP_TMP) rmSync(work, { recursive: true, force: true });
});

beforeAll(async () => {
  work = realpathSync(mkdtempSync(join(tmpdir(), "aq-package-")));
  // A PATH with a supported node and the system's tools, and nothing of the checkout.
  const nodeDir = join(work, "node-bin");
  mkdirSync(nodeDir);
  symlinkSync(process.execPath, join(nodeDir, "node"));
  const path = [nodeDir, "/usr/local/bin", "/usr/bin", "/bin"].join(":");
  const packs = join(work, "packs");
  mkdirSync(packs);
  const checkout = shellIn(ROOT, path);
  // `npm run test:package` has just built dist/; pack what a publish would.
  await checkout.run("npm", ["pack", "--ignore-scripts", "--silent", "--pack-destination", packs]);
  await checkout.run("npm", ["pack", "--silent", "--pack-destination", packs], {
    cwd: join(ROOT, "examples", "jsonl-sink"),
  });
  const tarballs = readdirSync(packs);
  const aqTarball = join(packs, tarballs.find((name) => name.startsWith("agent-queue-"))!);
  const sinkTarball = join(packs, tarballs.find((name) => name.startsWith("aq-plugin-jsonl-sink-"))!);

  const dir = join(work, "fresh-project");
  mkdirSync(dir);
  writeFileSync(join(dir, "package.json"), `${JSON.stringify({ name: "fresh-project", private: true }, null, 2)}\n`);
  project = shellIn(dir, path);
  await project.run("npm", [
    "install",
    "--save-dev",
    "--no-audit",
    "--no-fund",
    "--prefer-offline",
    aqTarball,
    sinkTarball,
    `typescript@${lockVersion("typescript")}`,
    `@types/node@${lockVersion("@types/node")}`,
  ]);

  repo = join(work, "repo");
  mkdirSync(repo);
  for (const args of [
    ["init", "-q", "-b", "main"],
    ["config", "user.email", "t@example.com"],
    ["config", "user.name", "T"],
    ["commit", "-q", "--allow-empty", "-m", "start"],
  ]) {
    await project.run("git", args, { cwd: repo });
  }
}, 300_000);

describe("the package agent-queue, installed from its tarball into a fresh project", () => {
  it("holds only what it needs: the CLI, the compiled code and its types, the README and the design", async () => {
    const files = (await project.run("tar", ["tzf", ...(await packed())])).stdout.split("\n").filter(Boolean);
    expect(files).toContain("package/bin/aq.js");
    expect(files).toContain("package/dist/src/index.js");
    expect(files).toContain("package/dist/src/index.d.ts");
    expect(files).toContain("package/README.md");
    expect(files).toContain("package/docs/design.md");
    expect(
      files.filter((file) => /\/(test|bench|node_modules)\/|\.map$|\.ts$/.test(file) && !file.endsWith(".d.ts")),
    ).toEqual([]);
  });

  it("holds the web pages' compiled ES modules: every module the dashboard's and the coordinator's page import", async () => {
    const modules = join(project.dir, "node_modules", "agent-queue", "dist", "src", "dashboard", "page", "modules.js");
    const script = [
      `const { pageModules } = await import(${JSON.stringify(modules)});`,
      "const dashboard = Object.keys(await pageModules());",
      'const coordinator = Object.keys(await pageModules("/ui/js/coordinator/page/app/main.js", "/ui/js/"));',
      "console.log(JSON.stringify({ dashboard, coordinator }));",
    ].join("\n");
    const listed = await project.run("node", ["--input-type=module", "-e", script]);
    const { dashboard, coordinator } = JSON.parse(listed.stdout);
    expect(dashboard).toEqual(
      expect.arrayContaining(["/js/dashboard/page/app/main.js", "/js/dashboard/page/app/dom.js", "/js/core/stages.js"]),
    );
    expect(coordinator).toEqual(
      expect.arrayContaining(["/ui/js/coordinator/page/app/main.js", "/ui/js/dashboard/page/app/dom.js"]),
    );
  });

  it("npx aq --version, -v and npx agent-queue --version answer with the package's version", async () => {
    const { version } = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string };
    for (const args of [
      ["--no", "--", "aq", "--version"],
      ["aq", "-v"],
      ["agent-queue", "--version"],
    ]) {
      expect((await project.run("npx", args)).stdout, args.join(" ")).toBe(`${version}\n`);
    }
  });

  it("npm install -g agent-queue puts aq (and agent-queue) on the PATH", async () => {
    const prefix = join(work, "global");
    await project.run(
      "npm",
      ["install", "--global", "--prefix", prefix, "--no-audit", "--no-fund", "--prefer-offline", ...(await packed())],
      { cwd: work },
    );
    const { version } = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string };
    for (const name of ["aq", "agent-queue"])
      expect((await project.run(join(prefix, "bin", name), ["--version"], { cwd: repo })).stdout).toBe(`${version}\n`);
    const typo = await project.run(join(prefix, "bin", "aq"), ["stauts"], { cwd: repo, allowFail: true });
    expect(typo.code).toBe(2);
    expect(typo.stderr).toBe('aq: unknown command "stauts"; did you mean "status"? (see aq --help)\n');
  });

  it("runs the README's first job on a real git repository: add, run, status, promote, ship", async () => {
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    const block = /## Your first job\n\n```sh\n([\s\S]*?)\n```/.exec(readme)?.[1];
    expect(block).toContain("npx aq add hello.md");
    const script = `set -e\n${block!.replaceAll("/path/to/a/git/repo", repo)}\n`;
    const result = await project.run("bash", ["-c", script]);
    expect(result.stdout.split("\n")[0]).toBe("hello");
    expect(result.stdout).toContain("hello: shipped");
    expect((await project.run("git", ["show", "main:hello.txt"], { cwd: repo })).stdout).toBe("hello from aq\n");
  });

  it("type-checks the README's aq.config.ts and a plugin whose apply() gets its options schema's output type", async () => {
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    const config = /## Configuration[\s\S]*?```ts\n([\s\S]*?)\n```/.exec(readme)?.[1];
    expect(config).toContain('from "agent-queue"');
    const dir = join(project.dir, "typed");
    mkdirSync(join(dir, "plugins"), { recursive: true });
    writeFileSync(join(dir, "aq.config.ts"), `${config}\n`);
    writeFileSync(
      join(dir, "plugins", "typed.ts"),
      [
        'import { definePlugin, v, type StageEvent } from "agent-queue";',
        "",
        "export default definePlugin({",
        '  name: "typed",',
        '  options: v.object({ channel: v.string(), retries: v.optional(v.number(), 3), level: v.optional(v.picklist(["info", "error"])) }),',
        "  apply(aq, options) {",
        "    const channel: string = options.channel;",
        "    const retries: number = options.retries;",
        '    const level: "info" | "error" | undefined = options.level;',
        "    // @ts-expect-error channel is a string, not a number",
        "    const wrong: number = options.channel;",
        "    // @ts-expect-error no such option",
        "    void options.nothing;",
        '    aq.hooks.onStage.tapPromise("typed", async (event: StageEvent) => aq.logger.info(`${channel} ${retries} ${level} ${wrong} ${event.jobId}`));',
        "  },",
        "});",
        "",
      ].join("\n"),
    );
    writeFileSync(
      join(dir, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          target: "es2022",
          module: "nodenext",
          moduleResolution: "nodenext",
          strict: true,
          noEmit: true,
          types: ["node"],
        },
        include: ["*.ts", "plugins/*.ts"],
      }),
    );
    const checked = await project.run("npx", ["tsc", "--noEmit", "-p", "tsconfig.json"], { cwd: dir, allowFail: true });
    expect(checked.stdout + checked.stderr).toBe("");
    expect(checked.code).toBe(0);
  });

  it("loads a plugin installed as a package (the example jsonl-sink) and a typed plugin by path, and runs a job with them", async () => {
    const dir = join(project.dir, "with-plugins");
    mkdirSync(join(dir, "plugins"), { recursive: true });
    writeFileSync(
      join(dir, "plugins", "typed.ts"),
      'import { definePlugin, v } from "agent-queue";\nexport default definePlugin({ name: "typed", options: v.object({ label: v.string() }), apply(aq, options) { aq.hooks.onStage.tap("typed", (event) => aq.logger.info(`${options.label}: ${event.jobId} ${event.to}`)); } });\n',
    );
    writeFileSync(
      join(dir, "aq.config.ts"),
      [
        'import { defineConfig } from "agent-queue";',
        "export default defineConfig({",
        '  defaults: { engine: "shell", timeout: "1m" },',
        '  plugins: [["aq-plugin-jsonl-sink", { path: "events.jsonl" }], ["./plugins/typed.ts", { label: "typed-plugin" }]],',
        "});",
        "",
      ].join("\n"),
    );
    writeFileSync(join(dir, "job.md"), "echo done\n");
    expect((await project.run("npx", ["aq", "add", "job.md", "--id", "sink-job"], { cwd: dir })).stdout).toBe(
      "sink-job\n",
    );
    const ran = await project.run("npx", ["aq", "run", "--once"], { cwd: dir });
    expect(ran.stdout).toBe("sink-job\treview\n");
    expect(ran.stderr).toContain("typed-plugin: sink-job review");
    const lines = readFileSync(join(dir, "events.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as { type: string; job: string; to: string });
    expect(lines.filter((line) => line.type === "stage").map((line) => line.to)).toEqual([
      "queued",
      "assigned",
      "building",
      "review",
    ]);

    const bad = await project.run("npx", ["aq", "status"], { cwd: dir, allowFail: true });
    expect(bad.code).toBe(0);
    writeFileSync(join(dir, "aq.config.ts"), 'export default { plugins: [["aq-plugin-jsonl-sink", { path: 3 }]] };\n');
    const refused = await project.run("npx", ["aq", "status"], { cwd: dir, allowFail: true });
    expect(refused.code).toBe(2);
    expect(refused.stderr.trim()).toMatch(/plugin "aq-plugin-jsonl-sink": options\.path: must be a file path$/);
  });
});

async function packed(): Promise<string[]> {
  const packs = join(project.dir, "..", "packs");
  return readdirSync(packs)
    .filter((name) => name.startsWith("agent-queue-"))
    .map((name) => join(packs, name));
}
