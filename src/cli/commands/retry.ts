import { defineCommand } from "citty";
import { retry } from "../../actions/retry-block.ts";
import { commonArgs, openAq, print } from "../_shared.ts";

export default defineCommand({
  meta: { name: "retry", description: "Requeue a failed, blocked, dead-letter or quarantined job (its attempts start again)" },
  args: { id: { type: "positional", description: "The job to requeue", required: true }, ...commonArgs },
  async run({ args }) {
    const aq = await openAq(args, "retry");
    print(`${args.id}: ${await retry(aq, args.id)}`);
  },
});
