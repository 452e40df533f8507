import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { aq } from "../helpers/cli.ts";
import { stageOf } from "../helpers/jobs.ts";
import { tempDir } from "../helpers/temp.ts";

describe("aq.config.ts that imports its own .ts helpers", () => {
  it.each([["commonjs"], ["module"], [undefined]])(
    "loads a sibling .ts module the config imports (package.json type %s)",
    async (type) => {
      const dir = tempDir();
      if (type) writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "repo", type }));
      writeFileSync(
        join(dir, "defaults.ts"),
        `interface Defaults { engine: string; timeout: string }\nexport const defaults: Defaults = { engine: "shell", timeout: "30s" };\nexport const queueDir: string = "from-helper";\n`,
      );
      writeFileSync(
        join(dir, "aq.config.ts"),
        `import { defineConfig } from "agent-queue";\nimport { defaults, queueDir } from "./defaults.ts";\nexport default defineConfig({ queueDir, defaults, pollInterval: "50ms" });\n`,
      );
      writeFileSync(join(dir, "job.md"), "echo ran > ran.txt\n");
      const added = await aq(["add", "job.md", "--id", "helper-job"], { cwd: dir });
      expect(added.stderr).toBe("");
      expect(added.code).toBe(0);
      const ran = await aq(["run", "--once"], { cwd: dir });
      expect(ran.code).toBe(0);
      // The helper's queueDir and its default engine (shell) were used.
      expect(stageOf(join(dir, "from-helper"), "helper-job")).toBe("review");
    },
  );
});
