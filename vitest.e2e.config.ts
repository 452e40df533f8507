import { defineConfig } from "vitest/config";

/**
 * `npm run test:e2e`: the longest end-to-end files, kept out of `npm test` so that it stays under
 * five minutes on two cores: shipping, worktrees and cleaning in real repositories, and the
 * two-factory demo. `.ci/run` runs them as their own suite.
 */
export const E2E_FILES = [
  "test/e2e/git-ship.test.ts",
  "test/e2e/git-worktree.test.ts",
  "test/e2e/git-clean.test.ts",
  "test/demo/demo.test.ts",
];

export default defineConfig({
  test: {
    include: E2E_FILES,
    pool: "forks",
    testTimeout: 120_000,
    hookTimeout: 60_000,
    maxWorkers: 2,
    reporters: ["default"],
  },
});
