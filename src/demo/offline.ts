import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createAq } from "../app.ts";
import { promote } from "../actions/promote.ts";
import { ship } from "../actions/ship.ts";
import { formatDuration } from "../core/duration.ts";
import { parseJob, renderJob } from "../core/job-file.ts";
import { Runner } from "../core/runner.ts";

const JOBS: Array<{ id: string; body: string; options?: Record<string, unknown> }> = [
  { id: "add-greeting", body: "echo 'hello from aq' > greeting.txt", options: { test: "grep -q hello greeting.txt" } },
  {
    id: "add-changelog",
    body: "printf '# Changelog\\n\\n- first release\\n' > CHANGELOG.md",
    options: { test: "test -s CHANGELOG.md" },
  },
  { id: "add-license", body: "echo 'MIT' > LICENSE", options: { priority: 5 } },
  { id: "docs-usage", body: "mkdir -p docs && echo 'run aq' > docs/usage.md", options: { lock: "docs" } },
  { id: "docs-faq", body: "mkdir -p docs && echo 'ask aq' > docs/faq.md", options: { lock: "docs" } },
  {
    id: "flaky-once",
    body: "if [ -f .attempted ]; then echo fixed > flaky.txt; rm .attempted; else touch .attempted; echo 'first attempt fails' >&2; exit 1; fi",
    options: { maxAttempts: 2 },
  },
  { id: "needs-a-human", body: "echo 'AQ_BLOCKED: needs an API key nobody gave me'" },
];

/**
 * The offline demo: a throw-away git repository, a queue of shell jobs that change it, two
 * slots working through it (a retry, a named lock, a blocked job), then promote and ship as an
 * operator would. Everything runs on this machine; nothing is fetched.
 */
export async function runOfflineDemo(options: { keep?: boolean } = {}): Promise<number> {
  const started = Date.now();
  const dir = mkdtempSync(join(tmpdir(), "aq-demo-"));
  const repo = join(dir, "repo");
  const sh = (cwd: string, ...args: string[]) => execFileSync("git", args, { cwd, encoding: "utf8" }).trim();
  try {
    execFileSync("git", ["init", "-q", "-b", "main", repo]);
    writeFileSync(join(repo, "README.md"), "# demo repository\n");
    sh(repo, "add", "-A");
    sh(repo, "-c", "user.name=aq demo", "-c", "user.email=demo@localhost", "commit", "-q", "-m", "initial");
    writeFileSync(
      join(dir, "aq.config.json"),
      JSON.stringify({
        queueDir: "queue",
        workdir: "repo",
        defaults: { engine: "shell", timeout: "1m" },
        retry: { backoff: "1s" },
        pollInterval: "200ms",
        killGrace: "1s",
      }),
    );
    const aq = await createAq({ cwd: dir, by: "demo" });
    aq.logger.info(`demo: queue ${aq.store.root}, repository ${repo}`);
    for (const job of JOBS) {
      const text = renderJob(job.options ?? {}, job.body);
      const record = await aq.store.create(
        { id: job.id, text, spec: parseJob(text, job.id), origin: { kind: "local" } },
        { by: "demo" },
      );
      await aq.lifecycle.created(record, "demo");
    }
    aq.logger.info(`demo: ${JOBS.length} jobs queued; running them with 2 slots`);
    const summary = await new Runner(aq).run({ mode: "drain", concurrency: 2 });
    const shipped: string[] = [];
    for (const [id, stage] of Object.entries(summary.outcomes)) {
      if (stage !== "review") continue;
      const tested = await promote(aq, id);
      if (tested.stage !== "testing") continue;
      await ship(aq, id);
      shipped.push(id);
    }
    const { jobs } = await aq.store.list();
    process.stdout.write(`\n${"JOB".padEnd(16)}${"STAGE".padEnd(10)}${"TRIES".padEnd(7)}REASON\n`);
    for (const job of jobs.sort((a, b) => a.id.localeCompare(b.id))) {
      process.stdout.write(
        `${job.id.padEnd(16)}${job.stage.padEnd(10)}${String(job.meta.attempts).padEnd(7)}${job.meta.reason ?? ""}\n`,
      );
    }
    process.stdout.write(
      `\nmain after shipping ${shipped.length} job(s):\n${sh(repo, "log", "--oneline", "--first-parent", "main")}\n`,
    );
    process.stdout.write(
      `\ndone in ${formatDuration(Date.now() - started)}${options.keep ? `; kept in ${dir}` : ""}\n`,
    );
    const expected = JOBS.length - 1; // all but the blocked one ship
    return shipped.length === expected ? 0 : 1;
  } finally {
    if (!options.keep) rmSync(dir, { recursive: true, force: true });
  }
}
