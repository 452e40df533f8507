/**
 * The lifecycle as one table: each stage's directory, whether it is terminal, and which
 * stages a job may move to from it. Every transition in aq is checked against this table.
 */
export const STAGES = {
  queued: { terminal: false, next: ["assigned", "blocked", "failed", "quarantine"] },
  assigned: { terminal: false, next: ["building", "queued", "failed", "blocked", "quarantine"] },
  building: { terminal: false, next: ["review", "blocked", "failed", "queued", "quarantine"] },
  review: { terminal: false, next: ["testing", "shipped", "blocked", "failed", "queued", "quarantine"] },
  testing: { terminal: false, next: ["shipped", "failed", "blocked", "queued", "quarantine"] },
  shipped: { terminal: true, next: [] },
  blocked: { terminal: true, next: ["queued", "failed", "quarantine"] },
  failed: { terminal: true, next: ["queued", "dead_letter", "blocked", "quarantine"] },
  dead_letter: { terminal: true, next: ["queued"] },
  // A person triaging a quarantined job retries it (queued) or parks it with a reason (blocked).
  quarantine: { terminal: true, next: ["queued", "failed", "blocked"] },
} as const satisfies Record<string, { terminal: boolean; next: readonly string[] }>;

export type Stage = keyof typeof STAGES;
export const STAGE_NAMES = Object.keys(STAGES) as Stage[];

export function canMove(from: Stage, to: Stage): boolean {
  return (STAGES[from].next as readonly string[]).includes(to);
}

/** Stages a runner owns while it works: found there after a crash, a job is recovered. */
export const IN_FLIGHT: readonly Stage[] = ["assigned", "building"];
