import { defineCommand } from "citty";
import { clean } from "../../actions/clean.ts";
import { commonArgs, jsonArg, openAq, print, printJson } from "../_shared.ts";

export default defineCommand({
  meta: {
    name: "clean",
    description:
      "Remove worktrees (and merged branches) of shipped, failed and dead-letter jobs; keeps and lists any holding unmerged commits or uncommitted changes",
  },
  args: { force: { type: "boolean", description: "Remove those too (their work is lost)" }, ...commonArgs, ...jsonArg },
  async run({ args }) {
    const aq = await openAq(args, "clean");
    const result = await clean(aq, { force: Boolean(args.force) });
    if (args.json) return printJson(result);
    for (const item of result.removed) print(`removed ${item.path} (${item.branch})`);
    for (const item of result.kept) print(`kept    ${item.path} (${item.branch}): ${item.why}`);
    if (result.kept.length) print(`${result.kept.length} kept; aq clean --force removes them and their work`);
    if (!result.removed.length && !result.kept.length) print("nothing to clean");
  },
});
