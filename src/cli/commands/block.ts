import { defineCommand } from "citty";
import { block } from "../../actions/retry-block.ts";
import { AqError } from "../../core/errors.ts";
import { commonArgs, jsonArg, openAq, print, printJson } from "../_shared.ts";

export default defineCommand({
  meta: {
    name: "block",
    description: "Park a job that is not running in blocked/, with a reason (aq retry brings it back)",
  },
  args: {
    id: { type: "positional", description: "The job to park", required: true },
    reason: { type: "string", description: "Why it is parked (shown in status)", valueHint: "text" },
    ...commonArgs,
    ...jsonArg,
  },
  async run({ args }) {
    if (!args.reason) throw new AqError("AQ_BAD_USAGE", "aq block: --reason is required");
    const aq = await openAq(args, "block");
    const stage = await block(aq, args.id, args.reason);
    if (args.json) printJson({ id: args.id, stage, reason: args.reason.trim() });
    else print(`${args.id}: ${stage}`);
  },
});
