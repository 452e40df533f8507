import { defineCommand } from "citty";
import { AqError } from "../../core/errors.ts";
import { completionScript, SHELLS } from "../_complete.ts";
import { print } from "../_shared.ts";

export default defineCommand({
  meta: {
    name: "completion",
    description:
      "Print a shell completion script (bash, zsh or fish) for commands, options and job ids. " +
      'bash: eval "$(aq completion bash)" in ~/.bashrc; zsh: source <(aq completion zsh) in ~/.zshrc; fish: aq completion fish > ~/.config/fish/completions/aq.fish',
  },
  args: { shell: { type: "positional", description: `The shell: ${SHELLS.join(", ")}`, required: true } },
  run({ args }) {
    if (!(SHELLS as readonly string[]).includes(args.shell))
      throw new AqError(
        "AQ_BAD_USAGE",
        `aq completion: no completion for ${JSON.stringify(args.shell)}; choose ${SHELLS.join(", ")}`,
      );
    print(completionScript(args.shell as (typeof SHELLS)[number]));
  },
});
