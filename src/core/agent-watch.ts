import { join } from "node:path";
import { AgentStream, type AgentInfo, type OutputFormat } from "./agent-output/index.ts";
import type { GroupRun } from "./process-group.ts";
import { AGENT_LOG_FILE, type QueueStore } from "./queue-store.ts";

export const BLOCKED_MARKER = /^AQ_BLOCKED:\s*(.*)$/;

/** How often a running agent's session and last activity are written to its meta, at most. */
const PROGRESS_MS = 5000;

export interface AgentWatch {
  /** What runInGroup needs to read the engine's output this way. */
  readonly groupOptions: Pick<GroupRun, "onOutput" | "onLine" | "render">;
  /** The reason of an `AQ_BLOCKED:` line the agent wrote, if it wrote one. */
  blocked(): string | undefined;
  /** What the agent reported, for the job's meta once the run is over. */
  snapshot(): AgentInfo;
  /** Waits for the last meta write of the run. */
  stop(): Promise<void>;
}

/**
 * Reads one engine run as it goes: the log (rendered from an agent CLI's JSON lines, raw for a
 * plain-text engine), `AQ_BLOCKED:` in what the agent said, and its session in the job's meta —
 * at once when the session id becomes known, otherwise at most every PROGRESS_MS (a short job
 * ends before that, and its final move records the session without an extra write).
 */
export function watchAgent(options: {
  store: QueueStore;
  id: string;
  engine: string;
  format: OutputFormat;
  jobDir: string;
}): AgentWatch {
  const { store, id } = options;
  const agent = new AgentStream(options.engine, options.format);
  let blocked: string | undefined;
  const noteMarker = (line: string) => {
    const match = BLOCKED_MARKER.exec(line);
    if (match) blocked = match[1]?.trim() || "blocked by the agent";
  };

  let timer: NodeJS.Timeout | undefined;
  let written: Promise<unknown> = Promise.resolve();
  let sessionWritten = false;
  let stopped = false;
  const write = () => {
    if (stopped) return;
    clearTimeout(timer);
    timer = undefined;
    const snapshot = agent.snapshot();
    written = written.then(() => store.update(id, "building", (m) => ({ ...m, agent: snapshot }))).catch(() => {});
  };
  const changed = () => {
    if (stopped) return;
    if (!sessionWritten && agent.info.sessionId) {
      sessionWritten = true;
      write();
    } else timer ??= setTimeout(write, PROGRESS_MS);
  };
  const take = ({ log, said }: { log: string[]; said: string[] }) => {
    said.forEach(noteMarker);
    changed();
    return log;
  };

  return {
    groupOptions: {
      onOutput: () => {
        agent.active();
        changed();
      },
      ...(agent.structured
        ? {
            render: {
              line: (raw: string) => take(agent.line(raw)),
              end: () => take(agent.end()),
              rawLogFile: join(options.jobDir, AGENT_LOG_FILE),
            },
          }
        : { onLine: (line: string) => void take(agent.line(line)) }),
    },
    blocked: () => blocked,
    snapshot: () => agent.snapshot(),
    async stop() {
      stopped = true;
      clearTimeout(timer);
      timer = undefined;
      await written;
    },
  };
}
