import { defineConfig } from "vitest/config";

/**
 * `npm run test:crash`: kill -9 at every crash point and a chaos of runners killed at random
 * (test/crash). Each case is a few real runs of aq over a real git-queue with worktrees.
 */
export default defineConfig({
  test: {
    include: ["test/crash/**/*.test.ts"],
    pool: "forks",
    testTimeout: 420_000,
    hookTimeout: 60_000,
    // Each case is mostly waiting on real processes: two files side by side, two cases of a file at once.
    maxWorkers: 2,
    maxConcurrency: 2,
    reporters: ["default"],
  },
});
