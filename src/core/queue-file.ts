import { constants, lstatSync, openSync } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import { isAbsolute, join, relative, sep } from "node:path";
import { AqError, isErrno } from "./errors.ts";

/** The files a job directory may hold that aq reads or writes; none may be a symbolic link. */
export const JOB_FILES = ["job.md", "meta.json", "meta.next.json", "log.txt", "prompt.txt", "agent.jsonl"] as const;

const APPEND_NO_FOLLOW = constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW;

/** The names among a job's files that are symbolic links (a job with any is moved aside as broken). */
export function linkedFiles(dir: string): string[] {
  return JOB_FILES.filter((name) => lstatSync(join(dir, name), { throwIfNoEntry: false })?.isSymbolicLink() === true);
}

/** One line for a job whose files are links; it names the files, never where they point. */
export function linkProblem(names: readonly string[]): string {
  return `${names.join(", ")} ${names.length === 1 ? "is a symbolic link" : "are symbolic links"}: aq follows no link inside the queue`;
}

/**
 * Opens a file inside the queue for reading, refusing a symbolic link anywhere from the queue's
 * root down (the dashboard serves logs with it). `path` must be inside `root`.
 */
export async function openQueueFile(root: string, path: string): Promise<FileHandle> {
  const rel = relative(root, path);
  if (rel === "" || rel.startsWith("..") || isAbsolute(rel))
    throw new AqError("AQ_BAD_USAGE", "not a file inside the queue");
  let at = root;
  for (const part of rel.split(sep).slice(0, -1)) {
    at = join(at, part);
    if (lstatSync(at, { throwIfNoEntry: false })?.isSymbolicLink())
      throw new AqError("AQ_BAD_JOB", `${relative(root, at)} is a symbolic link: aq follows no link inside the queue`);
  }
  try {
    return await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (error) {
    if (isErrno(error, "ELOOP"))
      throw new AqError("AQ_BAD_JOB", `${rel} is a symbolic link: aq follows no link inside the queue`);
    if (isErrno(error, "ENOENT")) throw new AqError("AQ_NOT_FOUND", `${rel}: missing`);
    throw error;
  }
}

/** Reads a whole file inside the queue as text, refusing links (see openQueueFile). */
export async function readQueueFile(root: string, path: string): Promise<string> {
  const handle = await openQueueFile(root, path);
  try {
    return await handle.readFile("utf8");
  } finally {
    await handle.close();
  }
}

/** A file descriptor to append to a job's log without following a link planted in its place. */
export function openForAppend(path: string): number {
  try {
    return openSync(path, APPEND_NO_FOLLOW, 0o644);
  } catch (error) {
    if (isErrno(error, "ELOOP"))
      throw new AqError(
        "AQ_BAD_JOB",
        `${path.split(sep).slice(-2).join("/")} is a symbolic link: aq follows no link inside the queue`,
      );
    throw error;
  }
}
