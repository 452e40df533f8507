import { readdirSync, readFileSync } from "node:fs";

/** Live (not zombie) processes of a process group, read from /proc on the host. */
export function groupMembers(pgid: number): number[] {
  const members: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(pgrp) === pgid && state !== "Z") members.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return members;
}
