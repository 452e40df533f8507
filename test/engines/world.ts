import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { delimiter, join } from "node:path";
import { onTestFinished } from "vitest";
import type { JobMeta } from "../../src/core/meta.ts";
import type { Stage } from "../../src/core/stages.ts";
import { aq, type CliResult, ROOT, writeTestConfig } from "../helpers/cli.ts";
import { gitRepo } from "../helpers/git.ts";
import { jobText, logOf, metaOf, stageOf } from "../helpers/jobs.ts";
import { tempDir } from "../helpers/temp.ts";
import { AGENT_CLIS, agentCliBin } from "./agent-clis.ts";
import { type ModelServer, startModelServer } from "./model-server.ts";

export type AgentName = keyof typeof AGENT_CLIS;

/**
 * One engine test's world: a real repository the job works in, aq's queue, a user's home where
 * each CLI finds its login and settings (pointed at the scripted model server), and on PATH a
 * shim per CLI that records its argv before it execs the real, pinned CLI.
 */
export interface EngineWorld {
  readonly root: string;
  readonly repo: string;
  readonly queue: string;
  readonly model: ModelServer;
  /** The environment aq runs with (the engine inherits it, minus aq's own secrets). */
  readonly env: Record<string, string>;
  add(id: string, frontmatter: Record<string, unknown>, body: string): Promise<void>;
  aq(args: readonly string[], timeoutMs?: number): Promise<CliResult>;
  /** `aq run --once`; throws unless it exits 0. */
  runOnce(): Promise<CliResult>;
  stage(id: string): Stage | undefined;
  meta(id: string): JobMeta;
  log(id: string): string;
  /** The raw structured output of the job's agent (agent.jsonl). */
  agentLog(id: string): string;
  /** Each time a CLI was started: its argv after the program name. */
  argvOf(cli: string): string[][];
  /** Processes still running in the job's worktree (none should outlive its job). */
  processesIn(dir: string): number[];
}

export const TEST_KEYS = {
  anthropic: "sk-ant-aq-engine-test",
  openai: "sk-openai-aq-engine-test",
  gemini: "aq-gemini-engine-test",
};

export async function engineWorld(config: Record<string, unknown> = {}): Promise<EngineWorld> {
  const root = tempDir("aq-engines-");
  const repo = gitRepo(join(root, "repo"));
  const home = join(root, "aq");
  const user = join(root, "user");
  const shims = join(root, "shims");
  const argvDir = join(root, "argv");
  for (const dir of [home, user, shims, argvDir]) mkdirSync(dir, { recursive: true });
  writeTestConfig(home, { queueDir: "queue", killGrace: "1s", ...config });
  const model = await startModelServer();
  onTestFinished(() => model.close());

  for (const [name, cli] of Object.entries(AGENT_CLIS)) {
    const shim = join(shims, cli.bin);
    writeFileSync(
      shim,
      `#!/bin/sh\nfor arg in "$@"; do printf '%s\\0' "$arg"; done > "${argvDir}/${name}.$$"\nexec "${agentCliBin(name as AgentName)}" "$@"\n`,
    );
    chmodSync(shim, 0o755);
  }
  writeUserSettings(user, model.url);

  const env: Record<string, string> = {
    HOME: user,
    PATH: [shims, join(ROOT, "node_modules", ".bin"), process.env.PATH ?? ""].join(delimiter),
    // Claude Code: the Messages API on loopback, an API key, no telemetry or update checks.
    ANTHROPIC_BASE_URL: model.url,
    ANTHROPIC_API_KEY: TEST_KEYS.anthropic,
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
    DISABLE_AUTOUPDATER: "1",
    // Codex: its provider is configured in ~/.codex/config.toml; the key comes from here.
    OPENAI_API_KEY: TEST_KEYS.openai,
    // Gemini CLI: API-key auth chosen in ~/.gemini/settings.json; the API's base URL.
    GEMINI_API_KEY: TEST_KEYS.gemini,
    GOOGLE_GEMINI_BASE_URL: model.url,
  };
  const queue = join(home, "queue");
  const run = (args: readonly string[], timeoutMs = 90_000) => aq(args, { cwd: home, env, timeoutMs });
  return {
    root,
    repo,
    queue,
    model,
    env,
    async add(id, frontmatter, body) {
      const file = join(root, `${id}.md`);
      writeFileSync(file, jobText({ cwd: JSON.stringify(repo), ...frontmatter }, body));
      const result = await run(["add", file, "--id", id]);
      if (result.code !== 0) throw new Error(`aq add exited ${result.code}: ${result.stderr}`);
    },
    aq: run,
    async runOnce() {
      const result = await run(["run", "--once"]);
      if (result.code !== 0) throw new Error(`aq run --once exited ${result.code}: ${result.stderr}`);
      return result;
    },
    stage: (id) => stageOf(queue, id),
    meta: (id) => metaOf(queue, id),
    log: (id) => logOf(queue, id),
    agentLog(id) {
      const path = join(queue, stageOf(queue, id) ?? "queued", id, "agent.jsonl");
      return existsSync(path) ? readFileSync(path, "utf8") : "";
    },
    argvOf: (cli) =>
      readdirSync(argvDir)
        .filter((name) => name.startsWith(`${cli}.`))
        .map((name) => readFileSync(join(argvDir, name), "utf8").split("\0").slice(0, -1)),
    processesIn(dir) {
      const pids: number[] = [];
      for (const entry of readdirSync("/proc")) {
        if (!/^\d+$/.test(entry)) continue;
        try {
          if (readlinkSync(`/proc/${entry}/cwd`).startsWith(dir)) pids.push(Number(entry));
        } catch {
          // gone, or not ours to read
        }
      }
      return pids;
    },
  };
}

/** What a user would have set up once: Codex's model provider and Gemini CLI's auth choice. */
function writeUserSettings(user: string, modelUrl: string): void {
  mkdirSync(join(user, ".codex"), { recursive: true });
  writeFileSync(
    join(user, ".codex", "config.toml"),
    [
      'model = "gpt-scripted"',
      'model_provider = "scripted"',
      "",
      "[model_providers.scripted]",
      'name = "scripted model server"',
      `base_url = "${modelUrl}/v1"`,
      'wire_api = "responses"',
      'env_key = "OPENAI_API_KEY"',
      "",
    ].join("\n"),
  );
  mkdirSync(join(user, ".gemini"), { recursive: true });
  writeFileSync(
    join(user, ".gemini", "settings.json"),
    `${JSON.stringify({ security: { auth: { selectedType: "gemini-api-key" } } }, null, 2)}\n`,
  );
}
