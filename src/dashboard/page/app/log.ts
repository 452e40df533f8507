/// <reference lib="dom" />
import { jobPath, type LogChunk, request } from "./api.ts";
import { clear, el, fmt } from "./dom.ts";
import { state } from "./state.ts";
import { when } from "./time.ts";

/** The open job's log: the byte it was read up to, and a last line not yet ended. */
const log = { to: 0, pending: "" };

export function resetLog(): void {
  log.to = 0;
}

/** A separator line the runner writes before each attempt becomes a heading with its time. */
const SEPARATOR = /^──── aq · attempt (\d+) · (\S+) · engine (\S+) ────$/;

function appendLog(pre: HTMLElement, text: string, flush: boolean): void {
  const all = log.pending + text;
  const cut = flush ? all.length : all.lastIndexOf("\n") + 1;
  log.pending = all.slice(cut);
  const lines = all.slice(0, cut);
  if (!lines) return;
  let run = "";
  const parts = lines.split("\n");
  parts.forEach((part, i) => {
    const line = i < parts.length - 1 ? `${part}\n` : part;
    const m = SEPARATOR.exec(part);
    if (!m) {
      run += line;
      return;
    }
    if (run) pre.appendChild(document.createTextNode(run));
    run = "";
    pre.appendChild(
      el("span", { class: "attempt", "data-attempt": m[1] }, `attempt ${m[1]} · ${m[3]} · started `, when(m[2])),
    );
  });
  if (run) pre.appendChild(document.createTextNode(run));
}

interface Tailing {
  again: boolean;
  done?: Promise<void>;
}

let tailing: Tailing | null = null;

/** Appends what the log gained since last time (the last 64 KiB on first open); one read at a time. */
export function tail(fresh: boolean): Promise<void> {
  if (tailing && !fresh) {
    tailing.again = true;
    return tailing.done ?? Promise.resolve();
  }
  const id = state.open;
  if (!id) return Promise.resolve();
  const current: Tailing = { again: false };
  tailing = current;
  current.done = read(id, fresh, current).then(
    () => {
      if (tailing !== current) return;
      tailing = null;
      if (current.again && state.open === id) return tail(false);
    },
    (error: unknown) => {
      if (tailing === current) tailing = null;
      throw error;
    },
  );
  return current.done;
}

async function read(id: string, fresh: boolean, current: Tailing): Promise<void> {
  const chunk = await request<LogChunk>("GET", jobPath(id, `/log${fresh ? "" : `?from=${log.to}`}`));
  if (state.open !== id || tailing !== current) return;
  const pre = document.getElementById("log");
  if (!pre) return;
  const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 8;
  if (fresh) {
    clear(pre);
    log.pending = "";
    if (chunk.from > 0) pre.appendChild(el("span", { class: "muted", text: `… (${fmt(chunk.from)} bytes before)\n` }));
  }
  const running = /^(queued|assigned|building)$/.test(chunk.stage);
  if (chunk.text || fresh) appendLog(pre, chunk.text, chunk.to >= chunk.size && !running);
  log.to = chunk.to;
  const size = document.getElementById("log-size");
  if (size) size.textContent = `${fmt(chunk.size)} bytes`;
  if (atBottom || fresh) pre.scrollTop = pre.scrollHeight;
  if (chunk.to < chunk.size) current.again = true;
}
