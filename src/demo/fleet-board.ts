import type { CoordinatorJob, FleetEvent } from "../coordinator/fleet-store.ts";
import { formatDuration } from "../core/duration.ts";
import type { Factory } from "./fleet-fixture.ts";

/**
 * What the fleet demo shows: what happened, line by line, and the jobs either as a live board
 * redrawn in place (a terminal) or as one line per change (a pipe, a log).
 */
export class Board {
  private readonly live: boolean;
  private drawn = "";
  private readonly seen = new Map<string, string>();

  constructor(live: boolean) {
    this.live = live;
  }

  say(line: string): void {
    process.stdout.write(`${line}\n`);
    this.drawn = ""; // the live board is drawn afresh below what was said
  }

  show(jobs: readonly CoordinatorJob[], factories: readonly Factory[], shipped: ReadonlyMap<string, string>): void {
    if (this.live) {
      const next = render(jobs, factories, shipped);
      process.stdout.write(`${this.drawn ? `\u001B[${this.drawn.split("\n").length}A\u001B[0J` : ""}${next}\n`);
      this.drawn = next;
      return;
    }
    for (const job of jobs) {
      const line = `${job.id} ${shipped.has(job.id) ? "shipped" : job.stage} ${job.factoryId ?? shipped.get(job.id) ?? "-"} epoch ${job.leaseEpoch}`;
      if (this.seen.get(job.id) !== line) this.say(line);
      this.seen.set(job.id, line);
    }
  }

  /** Who shipped what, the totals, and the timeline of one job (the one that was reclaimed). */
  summary(input: {
    readonly count: number;
    readonly factories: readonly Factory[];
    readonly shipped: ReadonlyMap<string, string>;
    readonly events: readonly FleetEvent[];
    readonly tookMs: number;
    readonly timelineJob: string | undefined;
  }): void {
    const { events, shipped, timelineJob } = input;
    const reclaims = events.filter((event) => event.type === "reclaimed").length;
    const fenced = events.filter((event) => event.type === "fenced").length;
    this.say("");
    this.say(`${"FACTORY".padEnd(12)}${"SHIPPED".padEnd(9)}JOBS`);
    for (const factory of input.factories) {
      const mine = [...shipped].filter(([, by]) => by === factory.name).map(([job]) => job);
      this.say(`${factory.name.padEnd(12)}${String(mine.length).padEnd(9)}${mine.join(" ")}`);
    }
    this.say("");
    this.say(
      `jobs ${input.count} · shipped ${shipped.size} · reclaims ${reclaims} · fenced reports ${fenced} · wall time ${formatDuration(input.tookMs)}`,
    );
    if (!timelineJob) return;
    this.say("");
    this.say(`events of ${timelineJob}:`);
    for (const event of events.filter((e) => e.jobId === timelineJob && e.type !== "renewed")) {
      this.say(
        `  ${event.at.slice(11, 23)}  ${event.type.padEnd(13)} ${(event.factoryId ?? "").padEnd(10)} epoch ${event.leaseEpoch ?? "-"}  ${event.stage ?? ""}${event.detail && event.type === "fenced" ? `  (${event.detail})` : ""}`,
      );
    }
  }
}

function render(
  jobs: readonly CoordinatorJob[],
  factories: readonly Factory[],
  shipped: ReadonlyMap<string, string>,
): string {
  const rows = jobs.map(
    (job) =>
      `${job.id.padEnd(8)} ${(shipped.has(job.id) ? "shipped" : job.stage).padEnd(9)} ${(job.factoryId ?? shipped.get(job.id) ?? "").padEnd(10)} epoch ${job.leaseEpoch}`,
  );
  const alive = factories.map((f) => `${f.name} ${f.child ? "up" : "DOWN"}`).join(" · ");
  return [alive, ...rows].join("\n");
}
