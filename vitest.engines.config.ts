import { defineConfig } from "vitest/config";

/** `npm run test:engines`: the built-in engines against the real agent CLIs (installed by test/engines/install.ts). */
export default defineConfig({
  test: {
    include: ["test/engines/**/*.test.ts"],
    pool: "forks",
    testTimeout: 120_000,
    hookTimeout: 60_000,
    // Each test runs a real agent CLI (Claude Code alone is a 400 MB binary): two at a time.
    maxWorkers: 2,
    reporters: ["default"],
  },
});
