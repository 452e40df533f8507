import { join } from "node:path";
import type { Aq } from "../app.ts";
import type { DashboardPanels, StatusJob, StatusReport } from "../core/contributions.ts";
import { JOB_LIMITS } from "../core/job-file.ts";
import { JOB_FILE } from "../core/queue-store.ts";
import { openJobFile } from "./safe-file.ts";
import type { Stage } from "../core/stages.ts";
import { collectStatus } from "../core/status.ts";

export interface JobsQuery {
  /** A stage, "active" (everything but shipped) or "all". */
  readonly stage: Stage | "active" | "all";
  readonly q: string;
  readonly offset: number;
  readonly limit: number;
}

/** A row of the jobs table: the status row plus what the page shows of the job's meta. */
export interface JobRow extends StatusJob {
  readonly engine?: string | undefined;
  readonly lastActivityAt?: string | undefined;
}

/**
 * One status report of the queue kept in memory, rebuilt at most once at a time (a caller that
 * asks while a build runs gets that build's answer, and one more build follows if something
 * changed meanwhile). The jobs table pages from it, so a page of 10,000 jobs costs a filter and
 * a slice, plus the meta of the rows shown.
 */
export class Snapshot {
  private readonly aq: Aq;
  private report: StatusReport | undefined;
  private rows: StatusJob[] = [];
  private building: Promise<void> | undefined;
  private stale = true;
  /** job.md is never rewritten, so the engine its frontmatter names is read once per job. */
  private readonly specEngine = new Map<string, string>();
  version = 0;
  builtAt = "";
  buildMs = 0;
  panels: DashboardPanels = {};
  private panelsAt = 0;

  constructor(aq: Aq) {
    this.aq = aq;
  }

  /** Something on disk changed: the next read rebuilds. */
  invalidate(): void {
    this.stale = true;
  }

  /**
   * The current report, rebuilt first if the queue changed since the last build. A caller that
   * comes while a build runs gets that build's answer (`fresh` waits for one that started after
   * the last change).
   */
  async current(options: { fresh?: boolean } = {}): Promise<StatusReport> {
    do {
      if ((this.stale || !this.report) && !this.building) {
        this.stale = false;
        this.building = this.build()
          .catch((error: unknown) => {
            this.stale = true;
            throw error;
          })
          .finally(() => (this.building = undefined));
      }
      if (this.building) await this.building;
    } while (options.fresh && this.stale);
    return this.report!;
  }

  private async build(): Promise<void> {
    const started = performance.now();
    const report = await collectStatus(this.aq.store, this.aq.hooks);
    this.rows = report.jobs; // already in the order a person reads them (collectStatus)
    this.report = report;
    this.panelsAt = Date.now();
    this.panels = await this.aq.hooks.dashboard.promise({});
    this.version++;
    this.builtAt = new Date().toISOString();
    this.buildMs = Math.round(performance.now() - started);
  }

  /**
   * Asks the plugins for their panels again unless that was done less than `maxAgeMs` ago (a
   * probe's answer may have changed without the queue changing); true if they changed.
   */
  async refreshPanels(maxAgeMs = 0): Promise<boolean> {
    if (Date.now() - this.panelsAt < maxAgeMs) return false;
    this.panelsAt = Date.now();
    const before = JSON.stringify(this.panels);
    this.panels = await this.aq.hooks.dashboard.promise({});
    return JSON.stringify(this.panels) !== before;
  }

  /** The ids of jobs now in these stages (from the last build). */
  idsIn(stages: readonly Stage[]): Array<{ id: string; stage: Stage }> {
    return this.rows.filter((job) => stages.includes(job.stage)).map(({ id, stage }) => ({ id, stage }));
  }

  async page(
    query: JobsQuery,
  ): Promise<{ version: number; total: number; offset: number; limit: number; jobs: JobRow[] }> {
    await this.current();
    const needle = query.q.trim().toLowerCase();
    const matching = this.rows.filter((job) => {
      if (query.stage === "active" ? job.stage === "shipped" : query.stage !== "all" && job.stage !== query.stage)
        return false;
      if (!needle) return true;
      return [
        job.id,
        job.reason ?? "",
        job.origin.kind,
        ...(job.badges ?? []),
        ...Object.values(job.columns ?? {}),
      ].some((text) => String(text).toLowerCase().includes(needle));
    });
    const slice = matching.slice(query.offset, query.offset + query.limit);
    const jobs = await Promise.all(slice.map((job) => this.row(job)));
    return { version: this.version, total: matching.length, offset: query.offset, limit: query.limit, jobs };
  }

  /** A status row with the engine and the agent's last activity, from the job's current meta. */
  private async row(job: StatusJob): Promise<JobRow> {
    const record = await this.aq.store.read(job.stage, job.id).catch(() => undefined);
    if (!record) return job; // moved since the build: the next change event brings it back
    const agent = record.meta.agent;
    return {
      ...job,
      engine: agent?.name ?? record.meta.engine?.name ?? (await this.engineOf(record)),
      lastActivityAt: agent?.lastActivityAt,
    };
  }

  /**
   * The engine the job's frontmatter names, or the config's default. A plain `engine: name` line is
   * read without the YAML parser (a page of 50 rows stays a few milliseconds); anything else is
   * parsed as `aq add` parses it.
   */
  async engineOf(record: { id: string; dir: string }): Promise<string> {
    const known = this.specEngine.get(record.id);
    if (known) return known;
    const text = await readHeadText(join(record.dir, JOB_FILE), JOB_LIMITS.frontmatterBytes + 8).catch(() => "");
    const frontmatter = /^---\r?\n([\s\S]*?)\r?\n---/.exec(text)?.[1];
    const line = frontmatter === undefined ? undefined : /^engine[ \t]*:(.*)$/m.exec(frontmatter);
    const plain = line && /^[ \t]*([A-Za-z0-9._-]+)[ \t]*(?:#.*)?$/.exec(line[1]!)?.[1];
    const engine =
      plain ||
      (line ? (await this.aq.store.readSpec(record).catch(() => undefined))?.engine : undefined) ||
      this.aq.config.defaults.engine;
    if (this.specEngine.size > 50_000) this.specEngine.clear();
    this.specEngine.set(record.id, engine);
    return engine;
  }
}

/** The first bytes of a job file, opened without following a link. */
async function readHeadText(path: string, max: number): Promise<string> {
  const handle = await openJobFile(path);
  if (!handle) return "";
  try {
    const length = Math.min(max, (await handle.stat()).size);
    const buffer = Buffer.alloc(length);
    const { bytesRead } = await handle.read(buffer, 0, length, 0);
    return buffer.subarray(0, bytesRead).toString("utf8");
  } finally {
    await handle.close();
  }
}
