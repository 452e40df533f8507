import { defineCommand } from "citty";
import { retry } from "../../actions/retry-block.ts";
import { commonArgs, jsonArg, openAq, print, printJson } from "../_shared.ts";

export default defineCommand({
  meta: {
    name: "retry",
    description: "Requeue a failed, blocked, dead-letter or quarantined job (its attempts start again)",
  },
  args: { id: { type: "positional", description: "The job to requeue", required: true }, ...commonArgs, ...jsonArg },
  async run({ args }) {
    const aq = await openAq(args, "retry");
    const stage = await retry(aq, args.id);
    if (args.json) printJson({ id: args.id, stage });
    else print(`${args.id}: ${stage}`);
  },
});
