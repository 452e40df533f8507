import { readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { aq, ROOT } from "../helpers/cli.ts";
import { tempDir } from "../helpers/temp.ts";
import { expectOneLine } from "../helpers/store-cli.ts";

const FIXTURE = join(ROOT, "test", "fixtures", "plugin-load-errors");
const config = (name: string) => join(FIXTURE, `${name}.json`);

describe("a plugin that cannot load says which way it failed, in one line, exit 2, before any work", () => {
  it("tells apart: not found, an import inside it failed, it throws while loading, it exports no plugin, its options are wrong", async () => {
    const dir = tempDir();
    const cases = [
      {
        name: "package-missing",
        says: `plugin "no-such-aq-plugin-package": not found: no package "no-such-aq-plugin-package" installed where ${FIXTURE} can import it`,
      },
      {
        name: "imports-missing",
        says: `plugin "./plugins/imports-missing.mjs": found, but its import of "no-such-package-for-aq-tests" failed: cannot be found`,
      },
      {
        name: "throws",
        says: `plugin "./plugins/throws.ts": found, but it failed while loading: the plugin's own module throws`,
      },
      { name: "no-plugin", says: `plugin "./plugins/no-plugin.ts": exports no plugin` },
      {
        name: "valibot-bad",
        says: `plugin "./plugins/valibot-from-aq.ts": options.greeting: must be at least 2 characters`,
      },
    ];
    const results = await Promise.all(cases.map(({ name }) => aq(["status", "--config", config(name)], { cwd: dir })));
    for (const [i, { name, says }] of cases.entries()) {
      expect(results[i]!.code, name).toBe(2);
      expect(expectOneLine(results[i]!.stderr)).toContain(`${config(name)}: ${says}`);
    }
    expect(readdirSync(dir)).toEqual([]);
  });

  it("a plugin that takes definePlugin and v (valibot) from agent-queue loads, with its options typed and checked", async () => {
    const dir = tempDir();
    const result = await aq(["greet", "--config", config("valibot-ok")], {
      cwd: dir,
      env: { AQ_QUEUE_DIR: join(dir, "queue") },
    });
    expect(result, result.stderr).toMatchObject({ code: 0, stdout: "hi\n" });
  });
});
