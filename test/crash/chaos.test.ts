import { describe, it } from "vitest";
import { chaos, SEED } from "./chaos.ts";

describe("crash safety: chaos", () => {
  it(`three runners over a git-queue with worktrees, killed with SIGKILL at random and restarted, lose no job and run none twice at once (seed ${SEED})`, () =>
    chaos({ jobs: 8, runners: 3, seconds: 10, minKills: 6 }));
});
