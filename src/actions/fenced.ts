import type { Aq } from "../app.ts";
import { AqError, FencedError } from "../core/errors.ts";

/** A transition a plugin fenced (its lease is someone else's): the job fails as `fenced`, the command says so. */
export async function fencedAsFailure<T>(aq: Aq, id: string, move: () => Promise<T>): Promise<T> {
  try {
    return await move();
  } catch (error) {
    if (!(error instanceof FencedError)) throw error;
    await aq.lifecycle.fence(id, error, aq.by);
    throw new AqError("AQ_FAILED", `${id}: fenced: ${error.message}`);
  }
}
