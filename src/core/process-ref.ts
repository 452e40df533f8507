import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import type { ProcessRef } from "./meta.ts";

const HOST = hostname();

/** The process's start time from /proc (Linux), so a reused pid is not mistaken for its old owner. */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}

let self: ProcessRef | undefined;

/** This process: its start time is read once, since it cannot change while the process lives. */
export function selfRef(): ProcessRef {
  self ??= Object.freeze(refOf(process.pid));
  return self;
}

export function refOf(pid: number): ProcessRef {
  const startTime = processStartTime(pid);
  return startTime === undefined ? { pid, host: HOST } : { pid, startTime, host: HOST };
}

/** Whether the process a ref names still runs. A ref from another host is taken as alive. */
export function isAlive(ref: ProcessRef): boolean {
  if (ref.host !== undefined && ref.host !== HOST) return true;
  if (!Number.isInteger(ref.pid) || ref.pid <= 0 || !signalZero(ref.pid)) return false;
  if (ref.startTime === undefined) return true;
  const now = processStartTime(ref.pid);
  return now === undefined || now === ref.startTime;
}

/** Whether any process of the group still runs. */
export function groupAlive(pgid: number): boolean {
  return Number.isInteger(pgid) && pgid > 1 && signalZero(-pgid);
}

function signalZero(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Whether the process a ref names runs here and is provably that process: same host, same start time. */
export function isProvablySame(ref: ProcessRef): boolean {
  if (ref.host !== undefined && ref.host !== HOST) return false;
  if (ref.startTime === undefined || !Number.isInteger(ref.pid) || ref.pid <= 1) return false;
  return processStartTime(ref.pid) === ref.startTime;
}
