import { defineCommand } from "citty";
import { setTimeout as sleep } from "node:timers/promises";
import { DURATION_HINT, formatDuration, parseDuration } from "../../core/duration.ts";
import { AqError } from "../../core/errors.ts";
import { isAlive, isProvablySame } from "../../core/process-ref.ts";
import { liveRunners } from "../../core/status.ts";
import { commonArgs, openAq, print } from "../_shared.ts";

export default defineCommand({
  meta: {
    name: "drain",
    description:
      "Ask every runner working on this queue to stop claiming, finish its jobs and exit (SIGTERM, as a person would); waits for them",
  },
  args: {
    timeout: {
      type: "string",
      description: "Give up waiting after this long (the runners go on draining)",
      default: "1h",
      valueHint: "duration",
    },
    ...commonArgs,
  },
  async run({ args }) {
    const timeoutMs = parseDuration(args.timeout);
    if (timeoutMs === undefined) throw new AqError("AQ_BAD_USAGE", `aq drain: --timeout must be ${DURATION_HINT}`);
    const aq = await openAq(args, "drain", { plugins: false });
    const runners = await liveRunners(aq.store);
    if (runners.length === 0) {
      print("no runner is working on this queue");
      return 0;
    }
    for (const runner of runners) {
      // Only a process that is provably the runner that wrote the record (its start time matches) is signalled.
      if (!isProvablySame(runner)) {
        print(`not signalling pid ${runner.pid}: its record has no start time that matches the running process`);
        continue;
      }
      try {
        process.kill(runner.pid, "SIGTERM");
        print(`draining runner pid ${runner.pid} (${runner.mode})`);
      } catch {
        // it exited between the listing and the signal
      }
    }
    const started = Date.now();
    let waiting = runners;
    while (waiting.length && Date.now() - started < timeoutMs) {
      await sleep(100);
      waiting = waiting.filter((runner) => isAlive(runner));
    }
    if (waiting.length) {
      print(
        `still draining after ${formatDuration(Date.now() - started)}: pid ${waiting.map((r) => r.pid).join(", ")}`,
      );
      return 1;
    }
    print(`drained ${runners.length} runner(s) in ${formatDuration(Date.now() - started)}`);
    return 0;
  },
});
