import { defineCommand } from "citty";
import { ship } from "../../actions/ship.ts";
import { commonArgs, jsonArg, openAq, print, printJson } from "../_shared.ts";

export default defineCommand({
  meta: {
    name: "ship",
    description: "testing → shipped: merges the job's wip branch into the base branch of its repository",
  },
  args: {
    id: { type: "positional", description: "The job to ship", required: true },
    force: { type: "boolean", description: "Ship straight from review, without testing" },
    ...commonArgs,
    ...jsonArg,
  },
  async run({ args }) {
    const aq = await openAq(args, "ship");
    const result = await ship(aq, args.id, { force: Boolean(args.force) });
    if (args.json) printJson(result);
    else
      print(
        result.merged
          ? `${result.id}: shipped (${result.merged.branch} merged into ${result.merged.into} as ${result.merged.commit.slice(0, 12)})`
          : `${result.id}: shipped`,
      );
  },
});
