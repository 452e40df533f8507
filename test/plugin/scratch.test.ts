import { it, expect } from "vitest";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { createAq } from "../../src/app.ts";
import { Runner } from "../../src/core/runner.ts";
import { tempDir } from "../helpers/temp.ts";
import { writeTestConfig } from "../helpers/cli.ts";
import { recordingLogger } from "../helpers/logger.ts";
import { parseJob } from "../../src/core/job-file.ts";

it("scratch", async () => {
  const dir = tempDir();
  writeTestConfig(dir);
  const { logger, lines } = recordingLogger();
  const aq = await createAq({ cwd: dir, env: {}, logger });
  const calls: unknown[] = [];
  for (const name of ["runnerStart", "beforeClaim", "onIdle", "onStage", "onTerminal", "runnerStop"] as const) {
    (aq.hooks[name] as any).tapPromise("rec", async (arg: any) => { calls.push([name, arg && { ...arg, meta: arg.meta && { stage: arg.meta.stage } }]); });
  }
  aq.hooks.building.tap("rec", (ctx) => calls.push(["building", Object.keys(ctx)]));
  const text = "---\nengine: shell\n---\necho hi\n";
  const record = await aq.store.create({ id: "j1", text, spec: parseJob(text, "j"), origin: { kind: "local" } }, { by: "test" });
  await aq.lifecycle.created(record, "test");
  const runner = new Runner(aq);
  const summary = await runner.run({ mode: "once", concurrency: 1 });
  console.log(JSON.stringify(calls, null, 1), summary, lines());
});
