import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import * as v from "valibot";
import { parseDuration } from "../../src/index.ts";

export const PLUGIN_NAME = "fleet";
export const DEFAULT_API = "http://localhost:4003/api";

const duration = v.pipe(v.string(), v.check((value) => parseDuration(value) !== undefined, "must be a duration such as 10s"));

export const OptionsSchema = v.strictObject({
  /** The switch, when AQ_FLEET is unset. */
  enabled: v.optional(v.boolean("must be true or false")),
  api: v.optional(v.pipe(v.string(), v.url("must be a URL such as http://localhost:4003/api"))),
  /** Prefer AQ_FLEET_TOKEN: config files get committed. */
  token: v.optional(v.string()),
  productId: v.optional(v.string()),
  factoryId: v.optional(v.pipe(v.string(), v.nonEmpty())),
  leaseRenewSec: v.optional(v.pipe(v.number("must be a number of seconds"), v.minValue(0.05, "must be at least 0.05"))),
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

/** Env wins over config (DESIGN §6). The factory id is stable for the process. */
export function fleetSettings(env: Readonly<NodeJS.ProcessEnv>, options: FleetOptions): FleetSettings {
  const api = env.AQ_FLEET_API || options.api || DEFAULT_API;
  if (!v.is(v.pipe(v.string(), v.url()), api)) throw new Error(`AQ_FLEET_API is not a URL: ${JSON.stringify(api)}`);
  const renewSec = env.AQ_FLEET_LEASE_RENEW_SEC ? Number(env.AQ_FLEET_LEASE_RENEW_SEC) : (options.leaseRenewSec ?? 300);
  if (!Number.isFinite(renewSec) || renewSec <= 0) throw new Error(`AQ_FLEET_LEASE_RENEW_SEC must be a positive number of seconds, not ${JSON.stringify(env.AQ_FLEET_LEASE_RENEW_SEC)}`);
  const caps = env.AQ_FLEET_CAPS !== undefined && env.AQ_FLEET_CAPS !== "" ? env.AQ_FLEET_CAPS.split(",").map((cap) => cap.trim()).filter(Boolean) : options.caps;
  return {
    api,
    token: env.AQ_FLEET_TOKEN || options.token,
    productId: env.AQ_PRODUCT_ID || options.productId,
    factoryId: env.AQ_FACTORY_ID || options.factoryId || `${hostname()}-${randomBytes(3).toString("hex")}`,
    renewMs: renewSec * 1000,
    caps,
    timeoutMs: options.timeout ? parseDuration(options.timeout)! : 10_000,
    mode: env.AQ_FLEET === "shadow" ? "shadow" : env.AQ_FLEET === "1" ? "fleet" : (options.mode ?? "fleet"),
  };
}
