import { defineCommand } from "citty";

export default defineCommand({
  meta: {
    name: "demo",
    description:
      "The two-factory fleet demo: a coordinator on loopback, a throw-away repository, a dozen shell jobs, two factories; one is killed midway and the other resumes its job. --offline: the one-host demo instead",
  },
  args: {
    offline: { type: "boolean", description: "Run the offline demo (one host, no coordinator)" },
    keep: { type: "boolean", description: "Keep the demo directory (its path is printed)" },
  },
  async run({ args }) {
    if (args.offline) {
      const { runOfflineDemo } = await import("../../demo/offline.ts");
      return runOfflineDemo({ keep: Boolean(args.keep) });
    }
    const { runFleetDemo } = await import("../../demo/fleet.ts");
    return runFleetDemo({ keep: Boolean(args.keep) });
  },
});
