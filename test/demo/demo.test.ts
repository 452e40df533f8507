import { describe, expect, it } from "vitest";
import { aq } from "../helpers/cli.ts";
import { tempDir } from "../helpers/temp.ts";

describe("the two-factory demo", () => {
  it("ships every job exactly once after a factory is killed, its job reclaimed, resumed and the zombie fenced — and two demos at once do not collide", async () => {
    const [first, second] = await Promise.all([
      aq(["demo", "--jobs", "6"], { cwd: tempDir(), timeoutMs: 120_000 }),
      aq(["demo", "--jobs", "6"], { cwd: tempDir(), timeoutMs: 120_000 }),
    ]);
    for (const run of [first, second]) {
      const shown = `demo output:\n${run.stdout}\n${run.stderr}`;
      expect(run.stderr, shown).toBe("");
      expect(run.code, shown).toBe(0);
      expect(run.stdout).toMatch(/^coordinator http:\/\/127\.0\.0\.1:\d+\/api/m);
      expect(run.stdout).toMatch(/^killed factory-[ab] \(SIGKILL, engines too\) while it held job-\d+ under epoch 1$/m);
      expect(run.stdout).toMatch(/^zombie: factory-[ab]'s late report for job-\d+ \(epoch 1\) → 409 \(fenced\)$/m);
      expect(run.stdout).toMatch(/^job-\d+ was resumed by factory-[ab] from the checkpointed commit/m);
      expect(run.stdout).toMatch(/^jobs 6 · shipped 6 · reclaims [1-9]\d* · fenced reports [1-9]\d* · wall time/m);
      expect(run.stdout).toMatch(/^every job shipped exactly once, after factory-[ab] was killed holding job-\d+$/m);
      // The timeline of the reclaimed job: claimed at epoch 1, reclaimed at epoch 2, the zombie fenced.
      const timeline = run.stdout.slice(run.stdout.indexOf("events of"));
      expect(timeline).toMatch(/claimed\s+factory-[ab]\s+epoch 1/);
      expect(timeline).toMatch(/reclaimed\s+factory-[ab]\s+epoch 2/);
      expect(timeline).toMatch(/fenced\s+epoch 1/);
      expect(timeline).toMatch(/stage\s+factory-[ab]\s+epoch 2\s+shipped/);
    }
    const api = (text: string) => /^coordinator (\S+)/m.exec(text)?.[1];
    expect(api(first.stdout)).not.toBe(api(second.stdout));
  }, 150_000);

  it("refuses a bad --jobs in one line", async () => {
    const result = await aq(["demo", "--jobs", "2"], { cwd: tempDir() });
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split("\n")).toEqual(['aq demo: --jobs must be a whole number from 4 to 50, not "2"']);
  });
});
