type Awaitable<T> = T | Promise<T>;
type Time = number | string | null | undefined;

/** What the page reads from the coordinator's store: its read views, sync (SQLite) or async. */
export interface FleetReads {
  factories(): Awaitable<
    ReadonlyArray<{
      id: string;
      capabilities: readonly string[];
      health: string;
      load: number;
      lastSeen: Time;
      heartbeats?: number;
    }>
  >;
  jobs(): Awaitable<
    ReadonlyArray<{
      id: string;
      title?: string | null;
      stage: string;
      priority: number;
      leaseEpoch: number;
      factoryId: string | null;
      leaseExpiresAt: Time;
      createdAt: Time;
      updatedAt: Time;
      checkpoint?: unknown;
    }>
  >;
  runs(
    id: string,
  ): Awaitable<
    ReadonlyArray<{ factoryId: string; leaseEpoch: number; startedAt: Time; endedAt: Time; outcome: string | null }>
  >;
  events(id?: string): Awaitable<
    ReadonlyArray<{
      id: number;
      at: Time;
      type: string;
      factoryId: string | null;
      leaseEpoch: number | null;
      stage: string | null;
      detail: string | null;
    }>
  >;
  job?(id: string): Awaitable<{ id: string } | undefined>;
}

const HELD: ReadonlySet<string> = new Set(["claimed", "assigned", "building", "review", "testing"]);

function iso(time: Time): string | null {
  if (time === null || time === undefined) return null;
  const date = typeof time === "number" ? new Date(time) : new Date(time);
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}

/** The factories with the leases each holds, and the fleet's jobs (never their prompt). */
export async function fleetView(store: FleetReads) {
  const [factories, jobs] = await Promise.all([store.factories(), store.jobs()]);
  const now = Date.now();
  const views = jobs.map((job) => ({
    id: job.id,
    title: job.title ?? null,
    stage: job.stage,
    priority: job.priority,
    leaseEpoch: job.leaseEpoch,
    factoryId: job.factoryId,
    leaseExpiresAt: iso(job.leaseExpiresAt),
    createdAt: iso(job.createdAt),
    updatedAt: iso(job.updatedAt),
  }));
  const held = (factoryId: string) =>
    views.filter((job) => job.factoryId === factoryId && job.leaseExpiresAt && HELD.has(job.stage));
  return {
    now: new Date(now).toISOString(),
    factories: factories.map((factory) => ({
      id: factory.id,
      capabilities: [...factory.capabilities],
      health: factory.health,
      load: factory.load,
      lastSeen: iso(factory.lastSeen),
      heartbeats: factory.heartbeats ?? null,
      leases: held(factory.id).map((job) => ({
        jobId: job.id,
        stage: job.stage,
        leaseEpoch: job.leaseEpoch,
        leaseExpiresAt: job.leaseExpiresAt,
      })),
    })),
    jobs: views,
  };
}

/** One job's runs and events, in order: who held it under which epoch, and what each reported. */
export async function jobTimeline(store: FleetReads, id: string) {
  const jobs = await store.jobs();
  const job = jobs.find((candidate) => candidate.id === id);
  if (!job) return undefined;
  const [runs, events] = await Promise.all([store.runs(id), store.events(id)]);
  return {
    id,
    stage: job.stage,
    leaseEpoch: job.leaseEpoch,
    factoryId: job.factoryId,
    runs: runs.map((run) => ({
      factoryId: run.factoryId,
      leaseEpoch: run.leaseEpoch,
      startedAt: iso(run.startedAt),
      endedAt: iso(run.endedAt),
      outcome: run.outcome,
    })),
    events: events.map((event) => ({
      at: iso(event.at),
      type: event.type,
      factoryId: event.factoryId,
      leaseEpoch: event.leaseEpoch,
      stage: event.stage,
      detail: event.detail,
    })),
  };
}
