import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";

/**
 * Answers read from a repository's files instead of a git process (each one costs a process
 * start on a busy host). Each answers undefined where the files do not say for certain (a
 * reftable repository, a ref that is not there), and the caller then asks git.
 */

/** A ref's commit: the loose ref file, else packed-refs. */
export function readRefFile(commonDir: string, ref: string): string | undefined {
  if (existsSync(join(commonDir, "reftable"))) return undefined;
  try {
    const value = readFileSync(join(commonDir, ref), "utf8").trim();
    // A loose ref wins over a packed one; one that is not a commit id (a symbolic ref) is git's to resolve.
    return /^[0-9a-f]{40,64}$/.test(value) ? value : undefined;
  } catch {
    // not a loose ref: it may be packed
  }
  try {
    for (const line of readFileSync(join(commonDir, "packed-refs"), "utf8").split("\n")) {
      const [sha, name] = line.split(" ");
      if (name === ref && sha && /^[0-9a-f]{40,64}$/.test(sha)) return sha;
    }
  } catch {
    // no packed refs
  }
  return undefined;
}

/** A linked worktree's own git directory (`.git/worktrees/<name>`), from its `.git` file. */
export function adminDirOf(worktree: string): string | undefined {
  try {
    const text = readFileSync(join(worktree, ".git"), "utf8");
    const match = /^gitdir: (.+)$/m.exec(text);
    return match ? resolve(worktree, match[1]!.trim()) : undefined;
  } catch {
    return undefined;
  }
}

/** What a linked worktree's HEAD holds: the branch it is on, or the commit of a detached HEAD. */
export function headOfWorktree(worktree: string): { ref?: string; commit?: string; commonDir?: string } | undefined {
  const admin = adminDirOf(worktree);
  if (!admin) return undefined;
  try {
    const head = readFileSync(join(admin, "HEAD"), "utf8").trim();
    const commonDir = resolve(admin, readFileSync(join(admin, "commondir"), "utf8").trim());
    if (head.startsWith("ref: ")) return { ref: head.slice(5), commonDir };
    if (/^[0-9a-f]{40,64}$/.test(head)) return { commit: head, commonDir };
  } catch {
    // not a worktree git made
  }
  return undefined;
}
