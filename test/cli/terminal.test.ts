import { beforeAll, describe, expect, it } from "vitest";
import { colorEnabled, painter } from "../../src/cli/term/color.ts";
import { renderTable, truncate } from "../../src/cli/term/table.ts";
import { aqInPty } from "../helpers/pty.ts";
import { cliProject, requireBuild, storeOf } from "../helpers/store-cli.ts";
import { addJob } from "../helpers/store-fixtures.ts";

beforeAll(requireBuild);

const ESC = "\u001B[";
const colorOn = { NO_COLOR: undefined, FORCE_COLOR: undefined, TERM: "xterm-256color" };

describe("colour and tables on a terminal", () => {
  it("colour follows NO_COLOR, FORCE_COLOR and whether the stream is a terminal", () => {
    expect(colorEnabled({ isTTY: true }, { TERM: "xterm" })).toBe(true);
    expect(colorEnabled({ isTTY: false }, { TERM: "xterm" })).toBe(false);
    expect(colorEnabled({ isTTY: true }, { TERM: "xterm", NO_COLOR: "1" })).toBe(false);
    expect(colorEnabled({ isTTY: true }, { TERM: "dumb" })).toBe(false);
    expect(colorEnabled({ isTTY: false }, { FORCE_COLOR: "1" })).toBe(true);
    expect(colorEnabled({ isTTY: true }, { FORCE_COLOR: "0" })).toBe(false);
    expect(colorEnabled({ isTTY: true }, { FORCE_COLOR: "1", NO_COLOR: "1" })).toBe(false);
    expect(painter({ isTTY: false }, {})("red", "plain")).toBe("plain");
    expect(painter({ isTTY: false }, { FORCE_COLOR: "1" })("red", "x")).toBe(`${ESC}31mx${ESC}39m`);
  });

  it("a table fits the width by cutting its flexible column at a word, never wrapping", () => {
    expect(truncate("needs the staging API key from the vault", 20)).toBe("needs the staging…");
    expect(truncate("abcdefghijklmnopqrstuvwxyz", 10)).toBe("abcdefghi…");
    expect(truncate("short", 10)).toBe("short");
    const lines = renderTable(
      [{ header: "ID" }, { header: "REASON", flex: true }],
      [["job-1", "a long reason that would wrap at forty columns and more"]],
      40,
    );
    expect(lines).toEqual(["ID     REASON", "job-1  a long reason that would wrap at…"]);
    for (const line of lines) expect([...line].length).toBeLessThanOrEqual(40);
    // Without a width (a pipe) nothing is cut.
    expect(renderTable([{ header: "ID" }, { header: "REASON" }], [["a", "x".repeat(300)]])[1]).toBe(
      `a   ${"x".repeat(300)}`,
    );
  });
});

describe("aq status on a terminal and in a pipe", () => {
  const REASON =
    "AQ_BLOCKED: needs the staging API key, which only the release manager holds, and she is on holiday until Monday";
  async function busyQueue() {
    const project = cliProject();
    const store = await storeOf(project.queue);
    await addJob(store, "low-old", { engine: "shell", priority: 0 });
    await addJob(store, "high-new", { engine: "shell", priority: 5, lock: "db" });
    await addJob(store, "mid", { engine: "shell", priority: 1 });
    await addJob(store, "parked");
    await store.move("parked", "queued", "blocked", { by: "test", reason: REASON });
    await addJob(store, "done");
    await store.move("done", "queued", "assigned", { by: "test" });
    await store.move("done", "assigned", "building", { by: "test" });
    await store.move("done", "building", "review", { by: "test" });
    return project;
  }

  it("lists jobs that need a person first, then review, then the queue in claim order, with priority and lock columns", async () => {
    const project = await busyQueue();
    const result = await project.run(["status"]);
    expect(result.code, result.stderr).toBe(0);
    const lines = result.stdout.split("\n");
    const header = lines.findIndex((line) => line.startsWith("ID "));
    expect(lines[header]).toMatch(/^ID\s+STAGE\s+PRI\s+TRIES\s+LOCK\s+SINCE\s+REASON$/);
    const ids = lines
      .slice(header + 1)
      .filter(Boolean)
      .map((line) => line.split(/\s+/)[0]);
    expect(ids).toEqual(["parked", "done", "high-new", "mid", "low-old"]);
    expect(lines.find((line) => line.startsWith("high-new"))).toMatch(/^high-new\s+queued\s+5\s+0\s+db\s/);
    // A pipe: no colour and no cut, the whole reason on one line.
    expect(result.stdout).not.toContain(ESC);
    expect(result.stdout).toContain("she is on holiday until Monday");
    const json = JSON.parse((await project.run(["status", "--json"])).stdout) as {
      jobs: Array<{ id: string; lock?: string; priority: number }>;
    };
    expect(json.jobs.map((job) => job.id)).toEqual(["parked", "done", "high-new", "mid", "low-old"]);
    expect(json.jobs.find((job) => job.id === "high-new")).toMatchObject({ lock: "db", priority: 5 });
  });

  it("on a 72-column terminal every line fits, the long reason is cut at a word with …, and stages are coloured", async () => {
    const project = await busyQueue();
    const { code, output } = await aqInPty(["status"], { cwd: project.dir, cols: 72, env: colorOn });
    expect(code, output).toBe(0);
    expect(output).toContain(`${ESC}33m`); // the blocked stage in yellow
    const plain = output.replace(/\u001B\[[0-9;]*m/g, "");
    const rows = plain.split("\n").filter((line) => /^(ID|parked|done|high-new|mid|low-old)\s/.test(line));
    expect(rows).toHaveLength(6);
    for (const line of rows) expect([...line].length).toBeLessThanOrEqual(72);
    const parked = rows.find((line) => line.startsWith("parked"))!;
    const cell = parked.slice(parked.indexOf("AQ_BLOCKED"));
    expect(cell.endsWith("…")).toBe(true);
    const kept = cell.slice(0, -1);
    expect(REASON.startsWith(kept)).toBe(true);
    expect(REASON[kept.length]).toBe(" "); // cut between two words, not inside one
    expect(kept.length).toBeGreaterThan(20);
    expect(plain).not.toContain("holiday until Monday");

    const uncoloured = await aqInPty(["status"], { cwd: project.dir, cols: 72, env: { ...colorOn, NO_COLOR: "1" } });
    expect(uncoloured.output).not.toMatch(/\u001B\[[0-9;]*m/);
  });

  it("aq status ID points at aq logs", async () => {
    const project = cliProject();
    await addJob(await storeOf(project.queue), "pointer");
    const result = await project.run(["status", "pointer"]);
    expect(result.stdout).toContain("read it with: aq logs pointer");
  });
});

describe("aq run: a live board on a terminal, plain lines in a pipe", () => {
  it("on a terminal it redraws a board of its slots in place: job, engine, stage, elapsed and the last line of output", async () => {
    const project = cliProject();
    await addJob(
      await storeOf(project.queue),
      "boarded",
      { engine: "shell" },
      'echo "compiling the parser"\nsleep 2.5\necho done',
    );
    const { code, output } = await aqInPty(["run", "--once"], { cwd: project.dir, cols: 100, env: colorOn });
    expect(code, output).toBe(0);
    const plain = output.replace(/\u001B\[[0-9;]*m/g, "");
    expect(plain).toContain("aq run · 1 of 1 slot busy");
    expect(plain).toMatch(/JOB\s+ENGINE\s+STAGE\s+ELAPSED\s+TOKENS\s+LAST ACTIVITY/);
    expect(plain).toMatch(/ {2}boarded\s+shell\s+building\s+\d+(\.\d)?(ms|s)\s+compiling the parser/);
    expect(output).toMatch(/\u001B\[\d+A\r\u001B\[0J/); // redrawn in place: cursor up, clear below
    expect(plain).toMatch(/boarded\treview\n/);
  });

  it("in a pipe it writes plain log lines: no board, no escape codes", async () => {
    const project = cliProject();
    await addJob(await storeOf(project.queue), "piped", { engine: "shell" }, 'echo "compiling"\nsleep 1.2\necho done');
    const result = await project.run(["run", "--once"]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr + result.stdout).not.toContain(ESC);
    expect(result.stderr).not.toContain("slot busy");
    expect(result.stderr).toContain("piped: building with shell");
    expect(result.stdout).toBe("piped\treview\n");
  });
});
