import { defineCommand } from "citty";
import { AqError } from "../../core/errors.ts";

export default defineCommand({
  meta: {
    name: "demo",
    description:
      "The two-factory fleet demo: a coordinator on loopback, a throw-away repository, a dozen shell jobs, two factories; one is killed midway and the other resumes its job. --offline: the one-host demo instead",
  },
  args: {
    offline: { type: "boolean", description: "Run the offline demo (one host, no coordinator)" },
    keep: { type: "boolean", description: "Keep the demo directory (its path is printed)" },
    jobs: {
      type: "string",
      description: "How many jobs the fleet demo enqueues (4 to 50)",
      default: "12",
      valueHint: "n",
    },
  },
  async run({ args }) {
    if (args.offline) {
      const { runOfflineDemo } = await import("../../demo/offline.ts");
      return runOfflineDemo({ keep: Boolean(args.keep) });
    }
    const jobs = Number(args.jobs);
    if (!Number.isInteger(jobs) || jobs < 4 || jobs > 50)
      throw new AqError(
        "AQ_BAD_USAGE",
        `aq demo: --jobs must be a whole number from 4 to 50, not ${JSON.stringify(args.jobs)}`,
      );
    const { runFleetDemo } = await import("../../demo/fleet.ts");
    return runFleetDemo({ keep: Boolean(args.keep), jobs });
  },
});
