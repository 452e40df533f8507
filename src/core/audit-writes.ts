/**
 * The audit logs this process has transitions for that are not written yet (the git-queue writes
 * its commits in batches). Kept apart from the git-queue so that the command line's exit path
 * imports nothing else.
 */
const unwritten = new Set<{ flush(): Promise<void> }>();

export function auditPending(log: { flush(): Promise<void> }): void {
  unwritten.add(log);
}

export function auditWritten(log: { flush(): Promise<void> }): void {
  unwritten.delete(log);
}

/** Every transition this process made is on its audit log (or, where git refused, left for the catch-up). */
export async function auditWritesSettled(): Promise<void> {
  await Promise.all([...unwritten].map((log) => log.flush()));
}
