import { mkdtempSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { onTestFinished } from "vitest";

/** A fresh directory for one test, removed when the test ends (kept when AQ_KEEP_TMP is set). */
export function tempDir(prefix = "aq-test-"): string {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), prefix)));
  onTestFinished(() => {
    if (!process.env.AQ_KEEP_TMP) rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}
