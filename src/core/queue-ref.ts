/** The branch the git-queue's audit log is committed to, unless the config names another. */
export const DEFAULT_QUEUE_REF = "refs/heads/aq-queue";
