import { defineCommand } from "citty";

export default defineCommand({
  meta: { name: "demo", description: "Run the offline demo: a throw-away repository, seven shell jobs, two slots, promote and ship" },
  args: { keep: { type: "boolean", description: "Keep the demo directory (its path is printed)" } },
  async run({ args }) {
    const { runOfflineDemo } = await import("../../demo/offline.ts");
    return runOfflineDemo({ keep: Boolean(args.keep) });
  },
});
