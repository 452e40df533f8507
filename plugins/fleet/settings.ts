import { createHash } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import * as v from "valibot";
import { readLocalToken } from "../../src/contract/local-token.ts";
import { parseDuration } from "../../src/index.ts";
import { hasCredentials, withoutCredentials } from "../../src/core/redact.ts";

export const PLUGIN_NAME = "fleet";
export const DEFAULT_API = "http://localhost:4003/api";
/** One day: the renew timer must stay far below Node's longest (2^31-1 ms), past which it fires at once. */
const MAX_RENEW_SEC = 86_400;

const duration = v.pipe(
  v.string(),
  v.check((value) => parseDuration(value) !== undefined, "must be a duration such as 10s"),
);

export const OptionsSchema = v.strictObject({
  /** The switch, when AQ_FLEET is unset. */
  enabled: v.optional(v.boolean("must be true or false")),
  api: v.optional(v.pipe(v.string(), v.url("must be a URL such as http://localhost:4003/api"))),
  /** Prefer AQ_FLEET_TOKEN: config files get committed. */
  token: v.optional(v.string()),
  productId: v.optional(v.string()),
  factoryId: v.optional(v.pipe(v.string(), v.nonEmpty())),
  leaseRenewSec: v.optional(
    v.pipe(
      v.number("must be a number of seconds"),
      v.minValue(0.05, "must be at least 0.05"),
      v.maxValue(MAX_RENEW_SEC, `must be at most ${MAX_RENEW_SEC}`),
    ),
  ),
  caps: v.optional(v.array(v.string())),
  /** Per-call timeout. */
  timeout: v.optional(duration),
  /** "shadow": run the local queue only and mirror it to the coordinator (AQ_FLEET=shadow wins). */
  mode: v.optional(v.picklist(["fleet", "shadow"], "must be fleet or shadow")),
});

export type FleetOptions = v.InferOutput<typeof OptionsSchema>;

export interface FleetSettings {
  readonly api: string;
  readonly token: string | undefined;
  readonly productId: string | undefined;
  readonly factoryId: string;
  readonly renewMs: number;
  /** Capabilities set by hand (AQ_FLEET_CAPS), instead of detected ones. */
  readonly caps: readonly string[] | undefined;
  readonly timeoutMs: number;
  /** "shadow": claims nothing, changes no local job; heartbeats and mirrors stages only. */
  readonly mode: "fleet" | "shadow";
}

/** Env wins over config (docs/design.md, "The fleet plugin"). The factory id is one per queue: see `queueFactoryId`. */
export function fleetSettings(
  env: Readonly<NodeJS.ProcessEnv>,
  options: FleetOptions,
  queueRoot?: string,
): FleetSettings {
  const api = env.AQ_FLEET_API || options.api || DEFAULT_API;
  if (!v.is(v.pipe(v.string(), v.url()), api))
    throw new Error(`AQ_FLEET_API is not a URL: ${withoutCredentials(JSON.stringify(api))}`);
  if (hasCredentials(api))
    throw new Error(
      `AQ_FLEET_API must not carry a user or password (${withoutCredentials(api)}): the token goes in AQ_FLEET_TOKEN`,
    );
  const renewSec = env.AQ_FLEET_LEASE_RENEW_SEC ? Number(env.AQ_FLEET_LEASE_RENEW_SEC) : (options.leaseRenewSec ?? 300);
  if (!Number.isFinite(renewSec) || renewSec <= 0 || renewSec > MAX_RENEW_SEC) {
    throw new Error(
      `AQ_FLEET_LEASE_RENEW_SEC must be a positive number of seconds, at most ${MAX_RENEW_SEC}, not ${JSON.stringify(env.AQ_FLEET_LEASE_RENEW_SEC)}`,
    );
  }
  const caps =
    env.AQ_FLEET_CAPS !== undefined && env.AQ_FLEET_CAPS !== ""
      ? env.AQ_FLEET_CAPS.split(",")
          .map((cap) => cap.trim())
          .filter(Boolean)
      : options.caps;
  return {
    api,
    // A development coordinator on loopback leaves its token for this user's factories.
    token: env.AQ_FLEET_TOKEN || options.token || readLocalToken(api, env),
    productId: env.AQ_PRODUCT_ID || options.productId,
    factoryId: env.AQ_FACTORY_ID || options.factoryId || queueFactoryId(queueRoot),
    renewMs: renewSec * 1000,
    caps,
    timeoutMs: options.timeout ? parseDuration(options.timeout)! : 10_000,
    mode: env.AQ_FLEET === "shadow" ? "shadow" : env.AQ_FLEET === "1" ? "fleet" : (options.mode ?? "fleet"),
  };
}

export const FACTORY_ID_FILE = "factory-id";

/**
 * Without AQ_FACTORY_ID, a factory is its queue on this host: `run`, `status` and `fleet-status` on
 * one queue are one factory, two queues are two. The id is the host name and a digest of the
 * queue's path, kept in `<queue>/.aq/factory-id` once the queue exists (so a moved queue keeps it,
 * and a person may pin another); a command that only reads finds the same id without writing it.
 */
export function queueFactoryId(queueRoot: string | undefined, host = hostname()): string {
  if (queueRoot === undefined) return host;
  const file = join(queueRoot, ".aq", FACTORY_ID_FILE);
  const kept = readKept(file);
  if (kept) return kept;
  const id = `${host}-${createHash("sha256").update(queueRoot).digest("hex").slice(0, 6)}`;
  if (existsSync(join(queueRoot, ".aq"))) {
    try {
      writeFileSync(file, `${id}\n`, { flag: "wx" });
    } catch {
      return readKept(file) ?? id; // another process kept one first
    }
  }
  return id;
}

function readKept(file: string): string | undefined {
  try {
    return readFileSync(file, "utf8").trim() || undefined;
  } catch {
    return undefined;
  }
}
