import { decodePathPart } from "./guard.ts";
import type { IncomingMessage, ServerResponse } from "node:http";
import * as v from "valibot";
import { AqError } from "../core/errors.ts";
import { HttpProblem, send } from "../core/http-server.ts";
import { JOB_ID } from "../core/job-id.ts";
import { parseJob } from "../core/job-file.ts";
import { formatIssues } from "../core/validation.ts";
import { requireAdmin, requireSelf, type Caller } from "./auth.ts";
import { type CoordinatorJob, type FleetStore, type ObservedEvent, uncovered } from "./fleet-store.ts";

/**
 * The operator's routes (`aq fleet add/jobs/job/factories/cancel`): enqueue, list and cancel take
 * the coordinator's own (admin) token; the job and factory views any caller. Then the route shadow
 * factories mirror their local stages to, for each factory itself.
 * Unlike /api/dev, these are for a real fleet: a job is validated exactly as `aq add` validates
 * a job file, and nothing answered carries a job's prompt.
 */

const Capability = v.pipe(v.string(), v.regex(/^[^\s,]+$/, "must be a capability such as engine:codex"));

const EnqueueRequest = v.object({
  id: v.optional(v.pipe(v.string(), v.regex(JOB_ID, "must be a job id: letters, digits, '-' and '_'"))),
  title: v.optional(v.pipe(v.string(), v.maxLength(200))),
  /** The job file as written: Markdown with YAML frontmatter. */
  text: v.pipe(v.string("must be the job file's text"), v.nonEmpty("is empty")),
  requires: v.optional(v.array(Capability)),
  priority: v.optional(v.pipe(v.number(), v.integer("must be an integer"))),
});

const ObservedRequest = v.object({
  factoryId: v.pipe(v.string(), v.nonEmpty()),
  jobId: v.pipe(v.string(), v.nonEmpty(), v.maxLength(200)),
  title: v.optional(v.pipe(v.string(), v.maxLength(200))),
  stage: v.pipe(v.string(), v.regex(/^[a-z_]{1,40}$/, "must be a stage name")),
});

/** A factory seen within this many leases is live: it may still take work. */
const LIVE_LEASES = 2;

/** A shadow factory's observed stage (a fleet route: after the fleet caller check); false for any other route. */
export async function handleShadowRoute(
  store: FleetStore,
  caller: Caller,
  route: string,
  body: unknown,
  response: ServerResponse,
): Promise<boolean> {
  if (route !== "POST /api/fleet/observed") return false;
  const observed = parse(ObservedRequest, body);
  requireSelf(caller, observed.factoryId);
  await store.observe(observed);
  send(response, 202, { ok: true });
  return true;
}

/** The operator's routes and the read-only views; false for any other route. */
export async function handleOperatorRoute(
  store: FleetStore,
  caller: Caller,
  request: IncomingMessage,
  response: ServerResponse,
  url: URL,
  path: string,
  body: unknown,
): Promise<boolean> {
  const method = request.method ?? "GET";
  const admin = () => requireAdmin(caller);
  const route = `${method} ${path}`;
  if (route === "POST /api/fleet/jobs") {
    admin();
    send(response, 201, view(await enqueue(store, parse(EnqueueRequest, body))));
    return true;
  }
  if (route === "GET /api/fleet/jobs") {
    admin();
    send(response, 200, await listJobs(store, url.searchParams.get("stage") ?? undefined));
    return true;
  }
  if (route === "GET /api/fleet/factories") {
    send(response, 200, { factories: await factoriesView(store) });
    return true;
  }
  const match = /^\/api\/fleet\/jobs\/([^/]+)(\/cancel)?$/.exec(path);
  if (!match) return false;
  const id = decodePathPart(match[1]!);
  if (method === "GET" && !match[2]) {
    const job = await store.job(id);
    if (!job) throw new HttpProblem(404, `no job ${id}`);
    const waiting = job.stage === "queued" ? waitingFor(job, await waitingJobs(store)) : undefined;
    send(response, 200, { ...view(job), ...(waiting ? { waiting } : {}) });
    return true;
  }
  if (method === "POST" && match[2]) {
    admin();
    const outcome = await store.cancel(id);
    if (!outcome.ok && outcome.reason === "missing") throw new HttpProblem(404, `no job ${id}`);
    if (!outcome.ok)
      throw new HttpProblem(
        409,
        `job ${id} is ${outcome.reason === "finished" ? outcome.stage : "finished"}: nothing to cancel`,
      );
    send(response, 200, {
      ok: true,
      id,
      stage: outcome.job.stage,
      leaseEpoch: outcome.job.leaseEpoch,
      fenced: outcome.holder,
    });
    return true;
  }
  return false;
}

/** What a heartbeat's answer adds: the queued jobs no live fleet factory can take, when there are any. */
export async function heartbeatNote(
  store: FleetStore,
): Promise<{ waiting?: Array<{ requires: string[]; jobs: number; missing: string[] }> }> {
  const waiting = await waitingJobs(store);
  return waiting.length ? { waiting } : {};
}

async function waitingJobs(store: FleetStore) {
  return uncovered(await store.waitingDemand(LIVE_LEASES * store.leaseMs));
}

function waitingFor(job: CoordinatorJob, waiting: Awaited<ReturnType<typeof waitingJobs>>): string | undefined {
  const group = waiting.find(
    (entry) =>
      entry.requires.length === job.requires.length && entry.requires.every((cap) => job.requires.includes(cap)),
  );
  if (!group) return undefined;
  return group.missing.length
    ? `no live factory has ${group.missing.join(", ")}`
    : job.requires.length
      ? `no live factory has ${job.requires.join(" and ")} together`
      : "no live factory";
}

async function enqueue(store: FleetStore, input: v.InferOutput<typeof EnqueueRequest>): Promise<CoordinatorJob> {
  let spec: ReturnType<typeof parseJob>;
  try {
    spec = parseJob(input.text, input.title ?? "job");
  } catch (error) {
    if (error instanceof AqError) throw new HttpProblem(400, error.message);
    throw error;
  }
  const added = await store.enqueue({
    id: input.id,
    title: input.title,
    bodyMd: spec.body,
    options: { ...spec.frontmatter },
    requires: [...new Set(input.requires ?? [])].sort(),
    priority: input.priority ?? spec.priority ?? 0,
  });
  if (!added) throw new HttpProblem(409, `job ${input.id} exists`);
  return added;
}

async function listJobs(store: FleetStore, stage: string | undefined) {
  const waiting = await waitingJobs(store);
  const jobs = (await store.jobs()).filter((job) => stage === undefined || job.stage === stage);
  const observed = observedJobs(await store.observedEvents()).filter(
    (job) => stage === undefined || job.stage === stage,
  );
  return {
    jobs: jobs.map((job) => {
      const reason = job.stage === "queued" ? waitingFor(job, waiting) : undefined;
      return { ...view(job), ...(reason ? { waiting: reason } : {}) };
    }),
    waiting,
    observed,
  };
}

/** Shadow factories' local jobs: the newest stage of each, and every stage seen. */
function observedJobs(events: readonly ObservedEvent[]) {
  const jobs = new Map<
    string,
    {
      factoryId: string;
      jobId: string;
      title: string | null;
      stage: string;
      firstSeen: string;
      lastSeen: string;
      stages: string[];
    }
  >();
  for (const event of events) {
    const key = `${event.factoryId}\u0000${event.jobId}`;
    const job = jobs.get(key) ?? {
      factoryId: event.factoryId,
      jobId: event.jobId,
      title: event.title,
      stage: event.stage,
      firstSeen: event.at,
      lastSeen: event.at,
      stages: [],
    };
    job.stage = event.stage;
    job.lastSeen = event.at;
    job.title = event.title ?? job.title;
    job.stages.push(event.stage);
    jobs.set(key, job);
  }
  return [...jobs.values()];
}

async function factoriesView(store: FleetStore) {
  const held = new Map<string, string[]>();
  for (const job of await store.jobs())
    if (job.factoryId) held.set(job.factoryId, [...(held.get(job.factoryId) ?? []), job.id]);
  const liveSince = Date.now() - LIVE_LEASES * store.leaseMs;
  return (await store.factories()).map((factory) => ({
    ...factory,
    live: Date.parse(factory.lastSeen) >= liveSince,
    leases: held.get(factory.id) ?? [],
  }));
}

/** The read-only view of a job: everything but its prompt. */
export function view(job: CoordinatorJob) {
  const { bodyMd: _, ...rest } = job;
  return { ...rest, leaseExpiresAt: job.leaseExpiresAt === null ? null : new Date(job.leaseExpiresAt).toISOString() };
}

function parse<S extends v.GenericSchema>(schema: S, body: unknown): v.InferOutput<S> {
  const result = v.safeParse(schema, body);
  if (!result.success) throw new HttpProblem(400, `bad request: ${formatIssues(result.issues)}`);
  return result.output;
}
