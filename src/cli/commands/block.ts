import { defineCommand } from "citty";
import { block } from "../../actions/retry-block.ts";
import { AqError } from "../../core/errors.ts";
import { commonArgs, openAq, print } from "../_shared.ts";

export default defineCommand({
  meta: { name: "block", description: "Park a job that is not running in blocked/, with a reason (aq retry brings it back)" },
  args: {
    id: { type: "positional", description: "The job to park", required: true },
    reason: { type: "string", description: "Why it is parked (shown in status)", valueHint: "text" },
    ...commonArgs,
  },
  async run({ args }) {
    if (!args.reason) throw new AqError("AQ_BAD_USAGE", "aq block: --reason is required");
    const aq = await openAq(args, "block");
    print(`${args.id}: ${await block(aq, args.id, args.reason)}`);
  },
});
