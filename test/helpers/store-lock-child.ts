import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { ROOT } from "./cli.ts";

/** The compiled lock module a child process imports (run `npm run build` first). */
export const COMPILED_LOCKS = join(ROOT, "dist", "src", "core", "locks.js");
/** The pinned Node (the one running the tests). */
export const NODE = process.execPath;

const SCRIPT = `
const { FileLock } = await import(process.argv[2]);
const lock = await FileLock.tryAcquire(process.argv[3], "child");
process.stdout.write(lock ? "locked\\n" : "busy\\n");
if (process.argv[4] === "hold") {
  // Hold the lock until the parent closes stdin (or kills us); never release it.
  process.stdin.resume();
  process.stdin.on("end", () => process.exit(0));
} else {
  process.exit(0); // exit without release(): the lock is left behind by a dead process
}
`;

function script(dir: string): string {
  if (!existsSync(COMPILED_LOCKS)) throw new Error(`${COMPILED_LOCKS} is missing: run npm run build first`);
  const path = join(dir, "lock-child.mjs");
  writeFileSync(path, SCRIPT);
  return path;
}

/** A child process that takes the lock at `lockPath` and exits without releasing it. Resolves with its pid once it is gone. */
export async function lockAndExit(dir: string, lockPath: string): Promise<{ pid: number; said: string }> {
  const child = spawn(NODE, [script(dir), pathToFileURL(COMPILED_LOCKS).href, lockPath, "exit"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout!.on("data", (chunk: Buffer) => (out += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (err += chunk.toString()));
  const code = await new Promise<number | null>((done) => child.once("exit", (c) => done(c)));
  if (code !== 0) throw new Error(`lock child failed (${code}): ${err}`);
  return { pid: child.pid!, said: out.trim() };
}

/** A child process that takes the lock and keeps running; `stop()` ends it. */
export async function lockAndHold(
  dir: string,
  lockPath: string,
): Promise<{ child: ChildProcess; said: string; stop(): Promise<void> }> {
  const child = spawn(NODE, [script(dir), pathToFileURL(COMPILED_LOCKS).href, lockPath, "hold"], {
    stdio: ["pipe", "pipe", "pipe"],
  });
  const exited = new Promise<void>((done) => child.once("exit", () => done()));
  let err = "";
  child.stderr!.on("data", (chunk: Buffer) => (err += chunk.toString()));
  const said = await new Promise<string>((done, fail) => {
    let out = "";
    child.stdout!.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes("\n")) done(out.trim());
    });
    child.once("exit", (code) => fail(new Error(`lock child exited early (${code}): ${err}`)));
  });
  return {
    child,
    said,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.stdin!.end();
        const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
        await exited;
        clearTimeout(timer);
      }
    },
  };
}
