import { createAq, type Aq } from "../app.ts";

/** Options every command that reads the queue takes. */
export const commonArgs = {
  config: { type: "string", description: "Config file to use instead of searching from the working directory (env AQ_CONFIG)", valueHint: "file" },
} as const;

export const jsonArg = { json: { type: "boolean", description: "Print machine-readable JSON on stdout" } } as const;

export function openAq(args: { config?: string | undefined }, command: string, options: { plugins?: boolean } = {}): Promise<Aq> {
  return createAq({ configFile: args.config || undefined, by: `cli:${command}`, ...options });
}

export function print(line = ""): void {
  process.stdout.write(`${line}\n`);
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}
