import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { sep } from "node:path";

/**
 * Questions about the processes of this host, answered from /proc (Linux): which processes
 * carry an environment variable (aq's engines carry a mark of their own), and whether a git
 * process works in a repository. Where /proc cannot be read, the answers are "none".
 */
function pids(): number[] {
  try {
    return readdirSync("/proc")
      .filter((name) => /^\d+$/.test(name))
      .map(Number)
      .filter((pid) => pid !== process.pid);
  } catch {
    return [];
  }
}

function environOf(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/environ`, "utf8").split("\0");
  } catch {
    return [];
  }
}

/** The group a process belongs to, and whether it is a zombie (gone but not reaped). */
function statOf(pid: number): { pgid: number; zombie: boolean } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { pgid: Number(fields[2]), zombie: fields[0] === "Z" || fields[0] === "X" };
  } catch {
    return undefined;
  }
}

/** Live processes whose environment holds `name=value`, with their process groups. */
export function processesWithEnv(name: string, value: string): Array<{ pid: number; pgid: number }> {
  const entry = `${name}=${value}`;
  const found: Array<{ pid: number; pgid: number }> = [];
  for (const pid of pids()) {
    if (!environOf(pid).includes(entry)) continue;
    const stat = statOf(pid);
    if (stat && !stat.zombie) found.push({ pid, pgid: stat.pgid });
  }
  return found;
}

/** Whether any live git process works inside one of `dirs` (its working directory is there). */
export function gitRunsIn(dirs: readonly string[]): boolean {
  for (const pid of pids()) {
    let comm: string;
    try {
      comm = readFileSync(`/proc/${pid}/comm`, "utf8").trim();
    } catch {
      continue;
    }
    if (comm !== "git" && !comm.startsWith("git-")) continue;
    let cwd: string;
    try {
      cwd = readlinkSync(`/proc/${pid}/cwd`);
    } catch {
      return true; // cannot tell: assume it is someone's
    }
    if (dirs.some((dir) => cwd === dir || cwd.startsWith(dir.endsWith(sep) ? dir : dir + sep))) return true;
  }
  return false;
}
