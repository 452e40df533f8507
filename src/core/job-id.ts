import { AqError } from "./errors.ts";
import { randomHex } from "./random-hex.ts";

/** Job ids name directories and git branches (`aq/<id>`), so they stay within safe characters. */
export const JOB_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$/;

export function checkJobId(id: string): string {
  if (!JOB_ID.test(id)) {
    throw new AqError(
      "AQ_BAD_USAGE",
      `invalid job id ${JSON.stringify(id)}: use letters, digits, '-' and '_' (at most 100, starting with a letter or digit)`,
    );
  }
  return id;
}

/** A new id: a slug of the hint (a file name or title) and a time-ordered random suffix. */
export function newJobId(hint?: string): string {
  const slug = (hint ?? "")
    .toLowerCase()
    .replace(/\.md$/, "")
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 40)
    .replace(/-+$/, "");
  const stamp = new Date().toISOString().replace(/[-:T]/g, "").slice(0, 14);
  return `${slug || "job"}-${stamp}-${randomHex(2)}`;
}

/** A file stem made into an id, or undefined when nothing usable is left. */
export function idFromStem(stem: string): string | undefined {
  const id = stem
    .replace(/[^A-Za-z0-9_-]+/g, "-")
    .replace(/^[-_]+/, "")
    .slice(0, 100);
  return JOB_ID.test(id) ? id : undefined;
}
