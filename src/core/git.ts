import { execFile } from "node:child_process";
import { AqError, oneLine } from "./errors.ts";

export interface GitResult {
  stdout: string;
  stderr: string;
}

/** Runs git; a failure becomes an AqError whose message is git's first line of complaint. */
export function git(
  cwd: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; input?: string } = {},
): Promise<GitResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      "git",
      args as string[],
      { cwd, env: options.env ?? gitEnv(), maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) {
          const detail = firstMeaningfulLine(stderr) ?? firstMeaningfulLine(stdout) ?? oneLine(error);
          reject(new AqError("AQ_FAILED", `git ${args[0]} failed: ${detail}`, { cause: error }));
        } else resolve({ stdout, stderr });
      },
    );
    child.stdin?.on("error", () => {});
    child.stdin?.end(options.input);
  });
}

/** Like git(), but answers undefined instead of throwing: for questions ("is this a repository?"). */
export async function gitMaybe(cwd: string, args: readonly string[]): Promise<string | undefined> {
  try {
    return (await git(cwd, args)).stdout.trim();
  } catch {
    return undefined;
  }
}

function firstMeaningfulLine(text: string): string | undefined {
  return text
    .split("\n")
    .map((line) => line.trim())
    .find((line) => line !== "" && !line.startsWith("hint:"));
}

/** git must never prompt for anything. */
export function gitEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { ...process.env, GIT_TERMINAL_PROMPT: "0", ...extra };
}

const FALLBACK_IDENTITY = ["-c", "user.name=aq", "-c", "user.email=aq@localhost"];

/** `git commit ...` (or commit-tree, merge) that falls back to aq's identity only where none is configured. */
export async function gitWithIdentity(cwd: string, args: readonly string[]): Promise<GitResult> {
  try {
    return await git(cwd, args);
  } catch (error) {
    const text = String((error as AqError).cause ?? error);
    if (!/tell me who you are|auto-detect email|empty ident/i.test(text)) throw error;
    return git(cwd, [...FALLBACK_IDENTITY, ...args]);
  }
}

export async function repoRoot(dir: string): Promise<string | undefined> {
  return gitMaybe(dir, ["rev-parse", "--show-toplevel"]);
}
