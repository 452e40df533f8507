/**
 * `npm run test:engines` runs this first: installs the pinned agent CLIs into their cache (once
 * per set of versions) and checks that each answers --version with its pinned version. When the
 * npm registry cannot be reached it says so in one line and fails: the engine tests never skip.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { AGENT_CLIS, agentCliBin, agentCliDir } from "./agent-clis.ts";

const dir = agentCliDir();
const marker = join(dir, "installed.json");

function fail(message: string): never {
  process.stderr.write(`test:engines: ${message}\n`);
  process.exit(1);
}

/** npm's own one-line account of what went wrong ("request to … failed, reason: …"), else its error code. */
function npmProblem(output: string): string {
  const lines = output.split("\n").map((line) => line.replace(/^npm (error|ERR!)\s*/, "").trim());
  return (
    lines.find((line) => /failed, reason:|^\d{3} /.test(line)) ??
    lines.find((line) => line.startsWith("code ")) ??
    (lines.find(Boolean) || "no answer")
  );
}

function versionOf(name: keyof typeof AGENT_CLIS): string {
  const result = spawnSync(agentCliBin(name), ["--version"], {
    encoding: "utf8",
    timeout: 60_000,
    env: { ...process.env, NO_COLOR: "1" },
  });
  return `${result.stdout ?? ""}${result.stderr ?? ""}`.trim();
}

if (!existsSync(marker)) {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const dependencies = Object.fromEntries(Object.values(AGENT_CLIS).map((cli) => [cli.package, cli.version]));
  // Claude Code's postinstall puts its native binary in place; nothing else needs an install script.
  const allowScripts = { "@anthropic-ai/claude-code": true };
  writeFileSync(
    join(dir, "package.json"),
    `${JSON.stringify({ private: true, dependencies, allowScripts }, null, 2)}\n`,
  );
  // Asked first, without retries: with no registry, npm install would retry for minutes.
  const ping = spawnSync("npm", ["ping", "--fetch-retries=0"], { encoding: "utf8", timeout: 60_000 });
  if (ping.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    fail(
      `the npm registry cannot be reached (${ping.status === null ? "npm ping had no answer in 60 s" : npmProblem(ping.stderr)}), so the agent CLIs cannot be installed`,
    );
  }
  const started = Date.now();
  process.stdout.write(
    `test:engines: installing ${Object.entries(dependencies)
      .map(([name, version]) => `${name}@${version}`)
      .join(", ")} into ${dir}\n`,
  );
  const install = spawnSync("npm", ["install", "--no-audit", "--no-fund", "--no-update-notifier", "--loglevel=error"], {
    cwd: dir,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });
  if (install.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    fail(`npm install of the agent CLIs failed: ${npmProblem(install.stderr)}`);
  }
  process.stdout.write(`test:engines: installed in ${((Date.now() - started) / 1000).toFixed(1)}s\n`);
}

const found: Record<string, string> = {};
for (const [name, cli] of Object.entries(AGENT_CLIS) as Array<
  [keyof typeof AGENT_CLIS, (typeof AGENT_CLIS)[keyof typeof AGENT_CLIS]]
>) {
  const version = versionOf(name);
  if (!version.includes(cli.version)) {
    rmSync(marker, { force: true });
    fail(
      `${cli.package}: expected version ${cli.version}, \`${cli.bin} --version\` answered ${JSON.stringify(version.split("\n")[0] ?? "")}`,
    );
  }
  found[name] = version.split("\n")[0]!;
}
writeFileSync(marker, `${JSON.stringify(found, null, 2)}\n`);
process.stdout.write(
  `test:engines: ${Object.entries(found)
    .map(([name, version]) => `${name} ${version}`)
    .join(" · ")}\n`,
);
