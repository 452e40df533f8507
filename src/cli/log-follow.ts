import { type FileHandle, open } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { isErrno } from "../core/errors.ts";
import { parseAttemptSeparator } from "../core/log-attempts.ts";
import { LOG_FILE, type QueueStore } from "../core/queue-store.ts";
import type { Stage } from "../core/stages.ts";
import { liveRunners } from "../core/status.ts";

/** Stages in which a job's log grows; a job in queued/ is followed only while a runner works on the queue. */
export const LOG_GROWS: readonly Stage[] = ["assigned", "building"];

/**
 * Splits a log into lines as it arrives and keeps those of one attempt (or all), knowing which
 * attempt a line belongs to from the separators the runner writes.
 */
export class AttemptLines {
  private pending = "";
  private current = 0;
  readonly seen = new Set<number>();
  private readonly only: number | undefined;
  private readonly emit: (line: string, separator: boolean) => void;

  constructor(only: number | undefined, emit: (line: string, separator: boolean) => void) {
    this.only = only;
    this.emit = emit;
  }

  push(text: string): void {
    const lines = (this.pending + text).split("\n");
    this.pending = lines.pop() ?? "";
    for (const line of lines) this.take(line);
  }

  end(): void {
    if (this.pending) this.take(this.pending);
    this.pending = "";
  }

  private take(line: string): void {
    const start = parseAttemptSeparator(line);
    if (start) {
      this.current = start.attempt;
      this.seen.add(start.attempt);
    }
    if (this.only === undefined || this.only === this.current) this.emit(line, start !== undefined);
  }
}

/** Bytes `from`… of the job's log wherever the job is now; the stage it was found in. */
export async function readFrom(
  store: QueueStore,
  id: string,
  from: number,
): Promise<{ stage: Stage | undefined; text: string; to: number }> {
  const stage = await store.locate(id);
  if (!stage) return { stage, text: "", to: from };
  let handle: FileHandle;
  try {
    handle = await open(join(store.jobDir(stage, id), LOG_FILE), "r");
  } catch (error) {
    // No log yet, or the job moved between locate and open: the next round finds it.
    if (isErrno(error, "ENOENT")) return { stage, text: "", to: from };
    throw error;
  }
  try {
    const size = (await handle.stat()).size;
    if (size <= from) return { stage, text: "", to: from };
    const buffer = Buffer.alloc(Math.min(size - from, 1024 * 1024));
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, from);
    // Up to the last whole UTF-8 character: the rest comes with the next read.
    let end = bytesRead;
    let lead = end - 1;
    while (lead >= 0 && end - lead < 4 && (buffer[lead]! & 0xc0) === 0x80) lead--;
    if (lead >= 0) {
      const byte = buffer[lead]!;
      const need = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
      if (end - lead < need) end = lead;
    }
    return { stage, text: buffer.subarray(0, end).toString("utf8"), to: from + end };
  } finally {
    await handle.close();
  }
}

/**
 * Prints the log from its start and, with `follow`, what it gains while the job may still run;
 * returns the stage the job came to rest in. Polls the file (a job's directory is renamed between
 * stages, so a watch on it would be lost at every move).
 */
export async function followLog(
  store: QueueStore,
  id: string,
  options: { follow: boolean; intervalMs?: number; signal?: AbortSignal; onText: (text: string) => void },
): Promise<Stage | undefined> {
  let offset = 0;
  for (;;) {
    const chunk = await readFrom(store, id, offset);
    if (chunk.text) options.onText(chunk.text);
    offset = chunk.to;
    const grows =
      chunk.stage !== undefined &&
      (LOG_GROWS.includes(chunk.stage) || (chunk.stage === "queued" && (await liveRunners(store)).length > 0));
    if (!options.follow || !grows) {
      // One last read: what the engine wrote just before the job moved on.
      if (options.follow && chunk.stage) {
        const last = await readFrom(store, id, offset);
        if (last.text) options.onText(last.text);
      }
      return chunk.stage;
    }
    if (options.signal?.aborted) return chunk.stage;
    if (!chunk.text) await sleep(options.intervalMs ?? 200, undefined, { signal: options.signal }).catch(() => {});
  }
}
