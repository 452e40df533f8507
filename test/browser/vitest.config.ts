import { defineConfig } from "vitest/config";

/** `npm run test:browser`: the dashboard in a real chromium (apart from `npm test`, which needs none). */
export default defineConfig({
  test: {
    root: `${import.meta.dirname}/../..`,
    include: ["test/browser/**/*.browser.ts"],
    pool: "forks",
    testTimeout: 90_000,
    hookTimeout: 60_000,
    maxWorkers: 1,
    reporters: ["default"],
  },
});
