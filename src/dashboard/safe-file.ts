import { constants } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import { basename } from "node:path";
import { isErrno } from "../core/errors.ts";
import { HttpProblem } from "../core/http-server.ts";

/**
 * Opens a job's file for reading without following a link: a `log.txt` that points elsewhere
 * (`/etc/passwd`, another user's file) is refused, never served. O_NOFOLLOW refuses a link as the
 * last part of the path; the handle must then be a regular file (not a FIFO, which O_NONBLOCK keeps
 * from hanging the open). Answers undefined when the file does not exist.
 */
export async function openJobFile(path: string): Promise<FileHandle | undefined> {
  let handle: FileHandle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    if (isErrno(error, "ENOENT")) return undefined;
    if (isErrno(error, "ELOOP", "EMLINK")) throw notServed(path);
    throw error;
  }
  const stat = await handle.stat().catch(async (error: unknown) => {
    await handle.close();
    throw error;
  });
  if (!stat.isFile()) {
    await handle.close();
    throw notServed(path);
  }
  return handle;
}

/** The reason names the file, never what it points at. */
function notServed(path: string): HttpProblem {
  return new HttpProblem(403, `${basename(path)} is not a regular file (a link?): not served`);
}

/** Whether the refusal came from openJobFile. */
export function isNotServed(error: unknown): boolean {
  return error instanceof HttpProblem && error.status === 403 && error.message.endsWith("not served");
}
