import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { aq, type CliResult } from "../helpers/cli.ts";
import { jobText, stageOf } from "../helpers/jobs.ts";
import { tempDir } from "../helpers/temp.ts";

const JOB = jobText({ engine: "shell" }, "echo hi");

function write(dir: string, files: Record<string, string>): void {
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, ".."), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
}

/** `aq add job.md --json` in `cwd`: where the job landed tells which queue directory was used. */
async function addJob(
  cwd: string,
  env: Record<string, string> = {},
  args: string[] = [],
): Promise<{ id: string; dir: string; result: CliResult }> {
  writeFileSync(join(cwd, "job.md"), JOB);
  const result = await aq(["add", "job.md", "--json", ...args], { cwd, env });
  expect(result.code, result.stderr).toBe(0);
  const { id, dir } = JSON.parse(result.stdout) as { id: string; dir: string };
  return { id, dir, result };
}

const FORMS: Array<{ file: string; queueDir: string; files: Record<string, string> }> = [
  {
    file: "aq.config.ts",
    queueDir: "q-ts",
    files: { "aq.config.ts": 'const queueDir: string = "q-ts";\nexport default { queueDir };\n' },
  },
  {
    file: "aq.config.mts",
    queueDir: "q-mts",
    files: { "aq.config.mts": 'const queueDir: string = "q-mts";\nexport default { queueDir };\n' },
  },
  {
    file: "aq.config.js",
    queueDir: "q-js",
    files: {
      "package.json": '{ "name": "repo", "type": "commonjs" }\n',
      "aq.config.js": 'module.exports = { queueDir: "q-js" };\n',
    },
  },
  { file: "aq.config.mjs", queueDir: "q-mjs", files: { "aq.config.mjs": 'export default { queueDir: "q-mjs" };\n' } },
  { file: "aq.config.json", queueDir: "q-json", files: { "aq.config.json": '{ "queueDir": "q-json" }\n' } },
  {
    file: "package.json#aq",
    queueDir: "q-pkg",
    files: { "package.json": '{ "name": "repo", "aq": { "queueDir": "q-pkg" } }\n' },
  },
];

describe("finding the config", () => {
  for (const form of FORMS) {
    it(`finds ${form.file} from a subdirectory upwards to the repository's root and uses it (queueDir beside the config file)`, async () => {
      const root = tempDir();
      execFileSync("git", ["init", "-q", root]);
      write(root, form.files);
      const cwd = join(root, "src", "deep");
      mkdirSync(cwd, { recursive: true });

      const { id, dir } = await addJob(cwd);

      expect(dir).toBe(join(root, form.queueDir, "queued", id));
      expect(stageOf(join(root, form.queueDir), id)).toBe("queued");
      expect(existsSync(join(cwd, "queue"))).toBe(false);
      expect(existsSync(join(root, "queue"))).toBe(false);
    });
  }
});

/** An aq.config.ts that uses `defineConfig` from "agent-queue" and syntax only TypeScript has. */
const TYPESCRIPT_CONFIG = (queueDir: string) => `import { defineConfig } from "agent-queue";
import type { UserConfig } from "agent-queue";

interface Team {
  readonly queue: string;
  readonly slots: number;
}
type Defaults = NonNullable<UserConfig["defaults"]>;

const team: Team = { queue: ${JSON.stringify(queueDir)}, slots: 2 };
const defaults: Defaults = { engine: "shell", timeout: "60s" };
function pick<T>(value: T): T {
  return value;
}

export default defineConfig({
  queueDir: pick<string>(team.queue),
  concurrency: team.slots,
  defaults,
  pollInterval: "50ms",
} satisfies UserConfig);
`;

describe("aq.config.ts in any kind of repository", () => {
  const cases: Array<{ kind: string; packageJson: string | undefined }> = [
    { kind: 'a package.json with "type": "commonjs"', packageJson: '{ "name": "legacy", "type": "commonjs" }\n' },
    { kind: "no package.json at all", packageJson: undefined },
    { kind: 'a package.json with "type": "module"', packageJson: '{ "name": "modern", "type": "module" }\n' },
  ];
  for (const { kind, packageJson } of cases) {
    it(`loads aq.config.ts with defineConfig from "agent-queue" and TypeScript-only syntax in ${kind}`, async () => {
      const root = tempDir();
      write(root, {
        "aq.config.ts": TYPESCRIPT_CONFIG("q-typed"),
        ...(packageJson ? { "package.json": packageJson } : {}),
      });
      // A job without an engine: only the config's defaults make it a shell job.
      writeFileSync(join(root, "job.md"), "echo ran > ran.txt\n");

      const added = await aq(["add", "job.md", "--json"], { cwd: root });
      expect(added.code, added.stderr).toBe(0);
      const { id, dir } = JSON.parse(added.stdout) as { id: string; dir: string };
      expect(dir).toBe(join(root, "q-typed", "queued", id));

      const run = await aq(["run", "--once"], { cwd: root });
      expect(run.code, run.stderr).toBe(0);
      expect(stageOf(join(root, "q-typed"), id)).toBe("review");
      expect(existsSync(join(root, "ran.txt"))).toBe(true);
    });
  }
});

describe("choosing the queue and the config explicitly", () => {
  it("lets AQ_QUEUE_DIR override queueDir (relative to the working directory, or absolute)", async () => {
    const root = tempDir();
    write(root, { "aq.config.json": '{ "queueDir": "q-config" }\n' });
    const cwd = join(root, "sub");
    mkdirSync(cwd);

    const relative = await addJob(cwd, { AQ_QUEUE_DIR: "elsewhere/q-env" });
    expect(relative.dir).toBe(join(cwd, "elsewhere", "q-env", "queued", relative.id));

    const absolute = await addJob(cwd, { AQ_QUEUE_DIR: join(root, "q-abs") });
    expect(absolute.dir).toBe(join(root, "q-abs", "queued", absolute.id));

    expect(existsSync(join(root, "q-config"))).toBe(false);
  });

  it("uses the file named by --config instead of searching (its queueDir relative to that file)", async () => {
    const root = tempDir();
    write(root, {
      "aq.config.json": '{ "queueDir": "q-found" }\n',
      "ci/ci.config.ts": 'const queueDir: string = "q-ci";\nexport default { queueDir };\n',
    });

    const { id, dir } = await addJob(root, {}, ["--config", "ci/ci.config.ts"]);

    expect(dir).toBe(join(root, "ci", "q-ci", "queued", id));
    expect(existsSync(join(root, "q-found"))).toBe(false);
  });

  it("uses the file named by AQ_CONFIG instead of searching", async () => {
    const root = tempDir();
    write(root, { "aq.config.json": '{ "queueDir": "q-found" }\n', "ops/other.json": '{ "queueDir": "q-other" }\n' });

    const { id, dir } = await addJob(root, { AQ_CONFIG: "ops/other.json" });

    expect(dir).toBe(join(root, "ops", "q-other", "queued", id));
    expect(existsSync(join(root, "q-found"))).toBe(false);
  });
});
