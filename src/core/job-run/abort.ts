import type { CancelRequest } from "../cancel-request.ts";
import { FencedError } from "../errors.ts";

/**
 * Why an engine was stopped before it exited by itself: one typed reason, decided where the stop
 * is asked for, read by settle. Nothing compares an error by identity.
 */
export type AbortReason =
  /** The job is no longer ours (a plugin lost its lease): the runner fails it as `fenced`. */
  | { readonly kind: "fenced"; readonly error: FencedError }
  /** A person's cancel request (`aq cancel`). */
  | { readonly kind: "cancelled"; readonly request: CancelRequest; readonly message: string }
  /** The runner was told to stop now (a second SIGINT/SIGTERM, a drain timeout). */
  | { readonly kind: "shutdown" }
  | { readonly kind: "timeout"; readonly afterMs: number }
  | { readonly kind: "stalled"; readonly afterMs: number }
  /** A `building` tap stopped the job with an error that is not a fence. */
  | { readonly kind: "plugin"; readonly error: unknown };

export const SHUTDOWN: AbortReason = Object.freeze({ kind: "shutdown" });

export function cancelledBy(request: CancelRequest): AbortReason {
  const message =
    request.to === "queued" ? `cancelled by ${request.by}; the attempt does not count` : `cancelled by ${request.by}`;
  return { kind: "cancelled", request, message };
}

/** What a plugin's `abort(error)` means: a FencedError is a fence, anything else a plugin's stop. */
export function abortedByPlugin(error: unknown): AbortReason {
  return error instanceof FencedError ? { kind: "fenced", error } : { kind: "plugin", error };
}

const KINDS: ReadonlySet<unknown> = new Set<AbortReason["kind"]>([
  "fenced",
  "cancelled",
  "shutdown",
  "timeout",
  "stalled",
  "plugin",
]);

/** An abort signal's reason as an AbortReason (one not set by aq counts as a plugin's). */
export function abortReasonOf(reason: unknown): AbortReason {
  const kind = (reason as { kind?: unknown } | null)?.kind;
  return typeof reason === "object" && KINDS.has(kind) ? (reason as AbortReason) : abortedByPlugin(reason);
}
