import { defineCommand } from "citty";
import { AqError } from "../../core/errors.ts";
import { Runner, type RunMode } from "../../core/runner.ts";
import { startLiveBoard } from "../live-board.ts";
import { commonArgs, jsonArg, openAq, print, printJson } from "../_shared.ts";

export default defineCommand({
  meta: {
    name: "run",
    description:
      "Work through the queue. --once: at most one job. --drain: until nothing is claimable, then exit. " +
      "Neither: run until SIGINT/SIGTERM; the first signal stops claiming and lets running jobs finish, a second kills them and puts them back in the queue.",
  },
  args: {
    once: { type: "boolean", description: "Run at most one job, then exit" },
    drain: { type: "boolean", description: "Run until nothing is claimable (waiting retries included), then exit" },
    concurrency: { type: "string", description: "Jobs at once (default: config concurrency, else 1)", valueHint: "n" },
    ...commonArgs,
    ...jsonArg,
  },
  async run({ args }) {
    if (args.once && args.drain) throw new AqError("AQ_BAD_USAGE", "aq run: --once and --drain exclude each other");
    let concurrency: number | undefined;
    if (args.concurrency !== undefined) {
      concurrency = Number(args.concurrency);
      if (!Number.isInteger(concurrency) || concurrency < 1)
        throw new AqError(
          "AQ_BAD_USAGE",
          `aq run: --concurrency must be a whole number of at least 1, not ${JSON.stringify(args.concurrency)}`,
        );
    }
    const aq = await openAq(args, "run");
    const runner = new Runner(aq);
    const mode: RunMode = args.once ? "once" : args.drain ? "drain" : "forever";
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals) => {
      signals++;
      if (signals === 1) {
        aq.logger.info(`${signal}: finishing running jobs (send it again to stop them now)`);
        runner.stop();
      } else runner.cancel();
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
    // On a terminal, a live board of the slots under the log lines; pipes get plain log lines only.
    const board =
      process.stderr.isTTY && !args.json
        ? startLiveBoard({
            runner,
            store: aq.store,
            stream: process.stderr,
            slots: concurrency ?? aq.config.concurrency,
          })
        : undefined;
    try {
      const summary = await runner.run({ mode, concurrency: concurrency ?? aq.config.concurrency });
      board?.stop();
      if (args.json) printJson(summary);
      else {
        const entries = Object.entries(summary.outcomes);
        if (entries.length === 0 && summary.problems.length === 0) aq.logger.info("nothing to run");
        for (const [id, stage] of entries) print(`${id}\t${stage}`);
      }
      const [first, ...more] = summary.problems;
      if (first)
        throw new AqError(
          "AQ_FAILED",
          `aq run could not work through the queue: ${first}${more.length ? ` (and ${more.length} more)` : ""}`,
        );
    } finally {
      board?.stop();
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    }
  },
});
