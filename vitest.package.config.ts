import { defineConfig } from "vitest/config";

/** `npm run test:package`: the packed tarball installed into a fresh project and used there (npm, tsc, git). */
export default defineConfig({
  test: {
    include: ["test/package/**/*.test.ts"],
    pool: "forks",
    testTimeout: 120_000,
    hookTimeout: 300_000,
    maxWorkers: 1,
    reporters: ["default"],
  },
});
