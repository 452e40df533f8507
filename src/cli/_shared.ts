import type { Aq } from "../app.ts";

/** Options every command that reads the queue takes. */
export const commonArgs = {
  config: {
    type: "string",
    description:
      "Config file to use instead of searching from the working directory up to the repository root (env AQ_CONFIG)",
    valueHint: "file",
  },
} as const;

export const jsonArg = { json: { type: "boolean", description: "Print machine-readable JSON on stdout" } } as const;

/** Commands that only read the queue: they open it as it is and create nothing (no queue skeleton in an empty directory). */
export const READ_ONLY_COMMANDS: ReadonlySet<string> = new Set(["status", "logs"]);

/** The app (config, plugins, the queue) is imported only by a command that opens it: `aq --version` and `aq help` stay small. */
export async function openAq(
  args: { config?: string | undefined },
  command: string,
  options: { plugins?: boolean } = {},
): Promise<Aq> {
  const { createAq } = await import("../app.ts");
  return createAq({
    configFile: args.config || undefined,
    by: `cli:${command}`,
    readOnly: READ_ONLY_COMMANDS.has(command),
    ...options,
  });
}

export function print(line = ""): void {
  process.stdout.write(`${line}\n`);
}

/** JSON on stdout: indented for a person at a terminal, on one line for a pipe (half the bytes, and faster to make). */
export function printJson(value: unknown): void {
  process.stdout.write(`${process.stdout.isTTY ? JSON.stringify(value, null, 2) : JSON.stringify(value)}\n`);
}
