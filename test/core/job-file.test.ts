import { describe, expect, it } from "vitest";
import { parseJob, renderJob } from "../../src/core/job-file.ts";
import { AqError } from "../../src/core/errors.ts";

const parseError = (text: string) => {
  try {
    parseJob(text, "job.md");
  } catch (error) {
    expect(error).toBeInstanceOf(AqError);
    expect((error as AqError).code).toBe("AQ_BAD_JOB");
    expect((error as AqError).exitCode).toBe(2);
    expect((error as Error).message).not.toContain("\n");
    return (error as Error).message;
  }
  throw new Error("expected parseJob to throw");
};

describe("job files", () => {
  it("reads every documented frontmatter key, durations in milliseconds", () => {
    const spec = parseJob(
      "---\nengine: claude\ncwd: /repo\nyolo: true\nlock: agent-queue\ntimeout: 4h\nstall: 20m\npriority: 5\nmaxAttempts: 2\ntracker: ISSUE-42\ntest: npm test\n---\nFix the flaky test\n",
      "job.md",
    );
    expect(spec).toMatchObject({
      engine: "claude",
      cwd: "/repo",
      yolo: true,
      lock: "agent-queue",
      timeout: 4 * 3600_000,
      stall: 20 * 60_000,
      priority: 5,
      maxAttempts: 2,
      tracker: "ISSUE-42",
      test: "npm test",
      body: "Fix the flaky test\n",
      unknownKeys: [],
    });
  });

  it("accepts 90s, 15m and 1d and a file without frontmatter", () => {
    expect(parseJob("---\ntimeout: 90s\n---\nx", "j").timeout).toBe(90_000);
    expect(parseJob("---\ntimeout: 15m\n---\nx", "j").timeout).toBe(900_000);
    expect(parseJob("---\ntimeout: 1d\n---\nx", "j").timeout).toBe(86_400_000);
    expect(parseJob("just a prompt\n", "j")).toMatchObject({ body: "just a prompt\n", frontmatter: {} });
  });

  it("keeps unknown keys and lists them", () => {
    const spec = parseJob("---\nengine: shell\nslack: '#ops'\nowner: me\n---\nbody", "j");
    expect(spec.unknownKeys).toEqual(["slack", "owner"]);
    expect(spec.frontmatter.slack).toBe("#ops");
  });

  it("names the file and the problem in one line for each kind of bad input", () => {
    expect(parseError("---\ntimeout: 4x\n---\nbody")).toMatch(/^job\.md: frontmatter timeout: "4x" is not a duration/);
    expect(parseError("---\ntimeout: 90\n---\nbody")).toMatch(/timeout: 90 is not a duration with a unit/);
    expect(parseError("---\nengine: [a, b\n---\nbody")).toMatch(/^job\.md: frontmatter is not valid YAML/);
    expect(parseError("---\nengine: shell\nbody without a closing fence")).toMatch(/no closing '---'/);
    expect(parseError("---\n- a\n- b\n---\nbody")).toMatch(/must be a YAML mapping/);
    expect(parseError("---\nyolo: sometimes\n---\nbody")).toMatch(/frontmatter yolo: must be true or false/);
    expect(parseError("---\nmaxAttempts: 0\n---\nbody")).toMatch(/maxAttempts: must be at least 1/);
    expect(parseError("---\nlock: 'a b'\n---\nbody")).toMatch(/lock: must be letters/);
    expect(parseError("---\nengine: shell\n---\n   \n")).toMatch(/has no prompt/);
  });

  it("renders a job that parses back to the same options and prompt", () => {
    const text = renderJob({ engine: "shell", timeout: "90s", tracker: "T-1", extra: "kept" }, "echo hi");
    expect(parseJob(text, "r")).toMatchObject({
      engine: "shell",
      timeout: 90_000,
      tracker: "T-1",
      body: "echo hi\n",
      unknownKeys: ["extra"],
    });
  });
});
