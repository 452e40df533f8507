import { relative } from "node:path";
import { git, gitMaybe, gitWithIdentity } from "./git.ts";
import { withLock } from "./locks.ts";

/**
 * The offline git-queue: when the queue directory is inside a git work tree, each transition
 * is committed, so the repository's history is the queue's audit log. Commits of concurrent
 * workers are serialized by a lock; only the job's own paths are committed, never anything
 * else a person has staged.
 */
export class GitQueue {
  private readonly top: string;
  private readonly queueDir: string;
  private readonly lockPath: string;

  private constructor(top: string, queueDir: string, lockPath: string) {
    this.top = top;
    this.queueDir = queueDir;
    this.lockPath = lockPath;
  }

  static async detect(queueDir: string, lockPath: string): Promise<GitQueue | undefined> {
    const inside = await gitMaybe(queueDir, ["rev-parse", "--is-inside-work-tree"]);
    if (inside !== "true") return undefined;
    const top = await gitMaybe(queueDir, ["rev-parse", "--show-toplevel"]);
    return top ? new GitQueue(top, queueDir, lockPath) : undefined;
  }

  /** Commits whatever changed under the job's directories (in any stage) with one message. */
  async commitJob(id: string, message: string): Promise<void> {
    // The agent's raw stream (prompt echoes, tool output) is never committed, even where an older
    // aq wrote the queue's .gitignore without it.
    const spec = [`:(glob)${this.rel()}*/${id}/**`, `:(glob,exclude)${this.rel()}*/${id}/agent.jsonl`];
    await withLock(this.lockPath, async () => {
      await git(this.top, ["add", "-A", "--", ...spec]);
      const staged = await gitMaybe(this.top, ["diff", "--cached", "--name-only", "--", ...spec]);
      if (!staged) return;
      await gitWithIdentity(this.top, ["commit", "-q", "--no-verify", "-m", message, "--", ...spec]);
    }, "git-queue");
  }

  private rel(): string {
    const rel = relative(this.top, this.queueDir);
    return rel === "" ? "" : `${rel.split("\\").join("/")}/`;
  }
}
