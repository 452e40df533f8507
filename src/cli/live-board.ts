import { open } from "node:fs/promises";
import { join } from "node:path";
import { formatDuration } from "../core/duration.ts";
import { parseAttemptSeparator } from "../core/log-attempts.ts";
import { LOG_FILE, type QueueStore } from "../core/queue-store.ts";
import { painter, STAGE_COLOR } from "./term/color.ts";
import { renderTable, truncate } from "./term/table.ts";

export interface BoardRunner {
  snapshot(): Array<{ id: string; since: number }>;
}

export interface LiveBoard {
  stop(): void;
}

interface SlotView {
  readonly id: string;
  readonly engine: string;
  readonly stage: string;
  readonly elapsed: string;
  readonly activity: string;
  readonly tokens: string;
}

/**
 * `aq run` on a terminal: a board of the runner's slots under the log lines, redrawn in place
 * every second — each running job, its engine and stage, how long it has run, the agent's last
 * line of output (its last tool call for an agent CLI) and the tokens so far. A log line written
 * meanwhile goes above the board: the board is erased, the line written, the board drawn again.
 */
export function startLiveBoard(options: {
  runner: BoardRunner;
  store: QueueStore;
  stream: NodeJS.WriteStream;
  slots: number;
  everyMs?: number;
}): LiveBoard {
  const { stream, store, runner } = options;
  const paint = painter(stream);
  const original = stream.write.bind(stream) as (chunk: string | Uint8Array, ...rest: unknown[]) => boolean;
  let drawn = 0;
  let board: string[] = [];
  let stopped = false;
  const erase = () => (drawn ? `\u001B[${drawn}A\r\u001B[0J` : "");
  const draw = () => {
    if (stopped || !board.length) return;
    original(`${erase()}${board.join("\n")}\n`);
    drawn = board.length;
  };
  stream.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    if (stopped || !drawn) return original(chunk, ...rest);
    const erased = erase();
    drawn = 0;
    original(erased);
    const result = original(chunk, ...rest);
    draw();
    return result;
  }) as typeof stream.write;

  let busy = false;
  const tick = async () => {
    if (busy || stopped) return;
    busy = true;
    try {
      const running = runner.snapshot();
      const views = await Promise.all(running.map((job) => slotView(store, job)));
      board = render(views, options.slots, stream.columns || 80, paint);
      draw();
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(() => void tick().catch(() => {}), options.everyMs ?? 1000);
  timer.unref();
  void tick().catch(() => {});
  return {
    stop() {
      if (stopped) return;
      clearInterval(timer);
      if (drawn) original(erase());
      stopped = true;
      drawn = 0;
      stream.write = original as typeof stream.write;
    },
  };
}

function render(views: readonly SlotView[], slots: number, width: number, paint: ReturnType<typeof painter>): string[] {
  const head =
    paint("bold", `aq run · ${views.length} of ${slots} slot${slots === 1 ? "" : "s"} busy`) +
    paint("dim", ` · ${new Date().toTimeString().slice(0, 8)}`);
  if (!views.length) return [truncate(head, width - 1), paint("dim", "  waiting for a job…")];
  const rows = views.map((view) => [view.id, view.engine, view.stage, view.elapsed, view.tokens, view.activity]);
  const table = renderTable(
    [
      { header: "  JOB", paint: (cell) => paint("bold", cell) },
      { header: "ENGINE" },
      { header: "STAGE", paint: (cell) => paint(STAGE_COLOR[cell] ?? "reset", cell) },
      { header: "ELAPSED" },
      { header: "TOKENS" },
      { header: "LAST ACTIVITY", flex: true, paint: (cell) => paint("dim", cell) },
    ],
    rows.map(([id, ...rest]) => [`  ${id}`, ...rest] as string[]),
    width - 1,
  );
  return [head, ...table];
}

async function slotView(store: QueueStore, job: { id: string; since: number }): Promise<SlotView> {
  const record = await store.get(job.id).catch(() => undefined);
  const agent = record?.meta.agent;
  const tokens =
    agent && (agent.inputTokens !== undefined || agent.outputTokens !== undefined)
      ? `${(agent.inputTokens ?? 0) + (agent.outputTokens ?? 0)}`
      : "";
  const line = record ? await lastLine(join(record.dir, LOG_FILE)) : "";
  const quiet = agent?.lastActivityAt
    ? ` (${formatDuration(Math.max(0, Date.now() - Date.parse(agent.lastActivityAt)))} ago)`
    : "";
  return {
    id: job.id,
    engine: record?.meta.engine?.name ?? agent?.name ?? "",
    stage: record?.stage ?? "",
    elapsed: formatDuration(Date.now() - job.since),
    activity: line ? `${line}${quiet}` : quiet.trim(),
    tokens,
  };
}

/** The last line the engine wrote (its last tool call, for an agent CLI's rendered log). */
async function lastLine(path: string): Promise<string> {
  const handle = await open(path, "r").catch(() => undefined);
  if (!handle) return "";
  try {
    const size = (await handle.stat()).size;
    const length = Math.min(size, 4096);
    const buffer = Buffer.alloc(length);
    await handle.read(buffer, 0, length, size - length);
    const lines = buffer
      .toString("utf8")
      .split("\n")
      .map((l) =>
        l
          .replace(/\u001B\[[0-9;?]*[A-Za-z]/g, "")
          .replace(/[\u0000-\u001F\u007F]/g, " ")
          .trim(),
      );
    return lines.reverse().find((l) => l && !parseAttemptSeparator(l)) ?? "";
  } finally {
    await handle.close();
  }
}
