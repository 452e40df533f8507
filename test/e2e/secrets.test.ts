import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { aq, writeTestConfig } from "../helpers/cli.ts";
import { gitRepo } from "../helpers/git.ts";
import { jobText, stageOf } from "../helpers/jobs.ts";
import { requireBuild } from "../helpers/store-cli.ts";
import { tempDir } from "../helpers/temp.ts";

/** Every token is withheld from what a job runs: the engine, `worktrees.setup` and `aq promote`'s test. */

const SECRETS = {
  AQ_COORDINATOR_TOKEN: "coord-secret-1a",
  AQ_FLEET_TOKEN: "fleet-secret-2b",
  AQ_TRACKER_TOKEN: "tracker-secret-3c",
  AQ_DASHBOARD_TOKEN: "dashboard-secret-4d",
  AQ_FACTORY_ENROLL_TOKEN: "enroll-secret-5e",
  // Declared by a third-party plugin: in its definition, and through aq.withholdEnv.
  WEBHOOK_SIGNING: "hook-secret-6f",
  SLACK_HOOK_URL: "https://hooks.example/slack-secret-7a",
};

const PLUGIN = `export default {
  name: "webhook",
  secretEnv: ["WEBHOOK_SIGNING"],
  apply(aq) { aq.withholdEnv("SLACK_HOOK_URL"); },
};
`;

describe("secrets stay out of what a job runs", () => {
  beforeAll(() => requireBuild());

  it("the engine, worktrees.setup and promote's test see none of aq's tokens nor a plugin's declared secrets; an agent's own key passes", async () => {
    const root = tempDir("aq-secrets-");
    const repo = gitRepo(join(root, "repo"));
    const home = join(root, "home");
    const seen = (what: string) => join(root, `${what}.env`);
    writeFileSync(join(root, "plugin.mjs"), PLUGIN);
    writeTestConfig(root, {
      queueDir: "home/queue",
      worktrees: { setup: `env > ${seen("setup")}` },
      plugins: [["tracker-echo", false], "./plugin.mjs"],
    });
    writeFileSync(
      join(root, "job.md"),
      jobText({ cwd: repo, test: `env > ${seen("test")}` }, `env > ${seen("engine")}\necho work > work.txt\n`),
    );
    const env = { ...SECRETS, ANTHROPIC_API_KEY: "agent-key-passes" };
    const run = (args: string[]) => aq(args, { cwd: root, env });

    expect((await run(["add", "job.md", "--id", "job"])).code).toBe(0);
    const ran = await run(["run", "--once"]);
    expect(ran.code, ran.stderr).toBe(0);
    expect(stageOf(join(home, "queue"), "job")).toBe("review");
    const promoted = await run(["promote", "job"]);
    expect(promoted.code, promoted.stderr).toBe(0);

    for (const what of ["engine", "setup", "test"]) {
      const text = readFileSync(seen(what), "utf8");
      for (const [name, value] of Object.entries(SECRETS)) {
        expect(text, `${what} sees ${name}`).not.toContain(value);
        expect(text, `${what} sees ${name}`).not.toMatch(new RegExp(`^${name}=`, "m"));
      }
      expect(text, what).toMatch(/^ANTHROPIC_API_KEY=agent-key-passes$/m);
      expect(text, what).toMatch(/^AQ_JOB_ID=job$/m);
    }
  });
});
