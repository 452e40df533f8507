import * as v from "valibot";
import { parseDuration } from "../../src/index.ts";
import { hasCredentials, withoutCredentials } from "../../src/core/redact.ts";

export const PLUGIN_NAME = "tracker-echo";

export const OptionsSchema = v.strictObject({
  /** Base URL of the tracker API; env AQ_TRACKER_API wins. */
  api: v.optional(v.pipe(v.string(), v.url("must be a URL such as http://localhost:4003/api"))),
  /** Bearer token; env AQ_TRACKER_TOKEN wins. Prefer the env: a config file is often committed. */
  token: v.optional(v.string()),
  /** X-Product-Id; env AQ_PRODUCT_ID wins. */
  productId: v.optional(v.string()),
  /** Per-call timeout, e.g. "5s". */
  timeout: v.optional(
    v.pipe(
      v.string(),
      v.check((value) => parseDuration(value) !== undefined, "must be a duration such as 5s"),
    ),
  ),
  /** Retries of idempotent calls (reading an item). Comments are never retried, so never posted twice. */
  retries: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(10))),
});

export type TrackerOptions = v.InferOutput<typeof OptionsSchema>;

export interface TrackerSettings {
  readonly api: string | undefined;
  readonly token: string | undefined;
  readonly productId: string | undefined;
  readonly timeoutMs: number;
  readonly retries: number;
}

/** Env wins over config, as everywhere in aq. */
export function trackerSettings(env: Readonly<NodeJS.ProcessEnv>, options: TrackerOptions): TrackerSettings {
  const api = env.AQ_TRACKER_API || options.api;
  if (api !== undefined && !v.is(v.pipe(v.string(), v.url()), api))
    throw new Error(`AQ_TRACKER_API is not a URL: ${withoutCredentials(JSON.stringify(api))}`);
  if (api !== undefined && hasCredentials(api))
    throw new Error(
      `AQ_TRACKER_API must not carry a user or password (${withoutCredentials(api)}): the token goes in AQ_TRACKER_TOKEN`,
    );
  return {
    api,
    token: env.AQ_TRACKER_TOKEN || options.token,
    productId: env.AQ_PRODUCT_ID || options.productId,
    timeoutMs: options.timeout ? parseDuration(options.timeout)! : 5_000,
    retries: options.retries ?? 2,
  };
}
