import { defineCommand } from "citty";
import { AqError } from "../../core/errors.ts";
import { commonArgs, openAq } from "../_shared.ts";
import { AttemptLines, followLog } from "../log-follow.ts";
import { painter } from "../term/color.ts";

export default defineCommand({
  meta: {
    name: "logs",
    description:
      "A job's rendered log, each attempt after a separator line; -f follows it while the job runs (until it comes to rest)",
  },
  args: {
    id: { type: "positional", description: "The job's id", required: true },
    follow: {
      type: "boolean",
      alias: "f",
      description: "Keep printing what the log gains while the job is queued, assigned or building",
    },
    attempt: { type: "string", description: "Only this attempt (1 is the first)", valueHint: "n" },
    ...commonArgs,
  },
  async run({ args }) {
    let only: number | undefined;
    if (args.attempt !== undefined) {
      only = Number(args.attempt);
      if (!Number.isInteger(only) || only < 1)
        throw new AqError(
          "AQ_BAD_USAGE",
          `aq logs: --attempt must be a whole number of at least 1, not ${JSON.stringify(args.attempt)}`,
        );
    }
    const aq = await openAq(args, "logs", { plugins: false });
    const job = await aq.store.get(args.id); // an unknown id: one line, exit 1
    const paint = painter(process.stdout);
    const lines = new AttemptLines(only, (line, separator) =>
      process.stdout.write(`${separator ? paint(["bold", "cyan"], line) : line}\n`),
    );
    const stop = new AbortController();
    const onSignal = () => stop.abort();
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
    try {
      const stage = await followLog(aq.store, job.id, {
        follow: Boolean(args.follow),
        signal: stop.signal,
        onText: (text) => lines.push(text),
      });
      lines.end();
      if (only !== undefined && !lines.seen.has(only)) {
        const seen = [...lines.seen];
        throw new AqError(
          "AQ_FAILED",
          `aq logs: ${job.id} has no attempt ${only} in its log${seen.length ? ` (attempts: ${seen.join(", ")})` : ""}`,
        );
      }
      if (args.follow && stage) process.stderr.write(`aq logs: ${job.id} is ${stage}\n`);
    } finally {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    }
  },
});
