import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import * as v from "valibot";
import { HttpProblem } from "../core/http-server.ts";
import type { FleetStore } from "./fleet-store.ts";

/**
 * Who is calling: the operator (the coordinator's own token), an enrolled factory (its token,
 * bound to its id), or nobody in particular (no token configured: a loopback development setup).
 */
export type Caller = { kind: "admin" } | { kind: "factory"; factoryId: string } | { kind: "anonymous" };

const FACTORY_TOKEN_PREFIX = "aqf_";

export const FactoryId = v.pipe(
  v.string(),
  v.regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/, "must be a factory id (letters, digits, . _ : -)"),
);

/** Tokens are 256 random bits, so one SHA-256 is enough to store them: nothing to guess, nothing to crack. */
export function hashToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

export function newFactoryToken(): string {
  return `${FACTORY_TOKEN_PREFIX}${randomBytes(32).toString("base64url")}`;
}

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

export async function identify(
  header: string | undefined,
  adminToken: string | undefined,
  store: FleetStore,
): Promise<Caller> {
  const bearer = /^Bearer (\S+)$/.exec(header ?? "")?.[1];
  if (adminToken && bearer && sameSecret(bearer, adminToken)) return { kind: "admin" };
  if (bearer?.startsWith(FACTORY_TOKEN_PREFIX)) {
    const factoryId = await store.tokenFactory(hashToken(bearer));
    if (!factoryId) throw new HttpProblem(401, "unknown or revoked factory token");
    return { kind: "factory", factoryId };
  }
  if (adminToken) throw new HttpProblem(401, "missing or wrong bearer token");
  return { kind: "anonymous" };
}

/** Admin and dev routes: the operator, or anyone where no token is configured (loopback development). */
export function requireAdmin(caller: Caller): void {
  if (caller.kind === "factory") throw new HttpProblem(403, "a factory token may not call this route");
}

/**
 * Fleet routes. Once factories are enrolled they must use their own tokens; the shared token (or
 * none, on loopback) keeps working only when the coordinator was told to accept it.
 */
export async function requireFleetCaller(caller: Caller, store: FleetStore, acceptSharedToken: boolean): Promise<void> {
  if (caller.kind === "factory" || acceptSharedToken) return;
  if (await store.anyEnrolled())
    throw new HttpProblem(401, "this coordinator enrolls its factories: call with the factory's own token");
}

/** Heartbeat and claim: only for the token's own factory. */
export function requireSelf(caller: Caller, factoryId: string): void {
  if (caller.kind === "factory" && caller.factoryId !== factoryId)
    throw new HttpProblem(403, `this token belongs to factory ${caller.factoryId}, not ${factoryId}`);
}

/** Report, renew and release: only from the factory the job was granted to under that epoch (a stale epoch of its own is a 409, as ever). */
export async function requireGrantee(
  caller: Caller,
  store: FleetStore,
  jobId: string,
  leaseEpoch: number,
): Promise<void> {
  if (caller.kind !== "factory") return;
  if (!(await store.job(jobId))) throw new HttpProblem(404, "no such job");
  if (!(await store.wasGranted(jobId, leaseEpoch, caller.factoryId)))
    throw new HttpProblem(403, `factory ${caller.factoryId} does not hold job ${jobId} under epoch ${leaseEpoch}`);
}
