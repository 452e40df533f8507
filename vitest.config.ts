import { defineConfig } from "vitest/config";
import { E2E_FILES } from "./vitest.e2e.config.ts";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // The real agent CLIs run in `npm run test:engines` (vitest.engines.config.ts), the packed
    // tarball in `npm run test:package` (vitest.package.config.ts), every crash point and the long
    // chaos in `npm run test:crash` (vitest.crash.config.ts; the representative cases of it run here,
    // test/e2e/git-crash.test.ts), and the longest end-to-end files in `npm run test:e2e` (vitest.e2e.config.ts).
    exclude: ["test/engines/**", "test/package/**", "test/crash/**", "node_modules/**", ...E2E_FILES],
    pool: "forks",
    // Real processes on a machine that may be busy with other work (another suite, a build):
    // a test that takes 10 s alone can take several times that there.
    testTimeout: 120_000,
    hookTimeout: 60_000,
    // Real processes and real git: two workers fit this project's 2-core CI machine.
    maxWorkers: 2,
    reporters: ["default"],
  },
});
