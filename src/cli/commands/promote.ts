import { defineCommand } from "citty";
import { promote } from "../../actions/promote.ts";
import { formatDuration } from "../../core/duration.ts";
import { commonArgs, jsonArg, openAq, print, printJson } from "../_shared.ts";

export default defineCommand({
  meta: {
    name: "promote",
    description:
      "review → testing: runs the job's `test` command in its worktree; a failing test moves the job to failed (exit 1)",
  },
  args: { id: { type: "positional", description: "The job to promote", required: true }, ...commonArgs, ...jsonArg },
  async run({ args }) {
    const aq = await openAq(args, "promote");
    const result = await promote(aq, args.id);
    if (args.json) printJson(result);
    else
      print(
        `${result.id}: ${result.stage}${result.test ? ` (test ${result.test.exit} in ${formatDuration(result.test.durationMs)}: ${result.test.command})` : ""}`,
      );
    return result.stage === "failed" ? 1 : 0;
  },
});
