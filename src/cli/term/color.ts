import { styleText } from "node:util";

type Format = Parameters<typeof styleText>[0];

export interface ColorStream {
  readonly isTTY?: boolean | undefined;
}

/**
 * Whether to colour what goes to this stream: NO_COLOR (any value) says no, FORCE_COLOR says yes
 * (unless it is 0 or false), otherwise only a terminal that is not `dumb` gets colour.
 */
export function colorEnabled(stream: ColorStream, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== "") return false;
  const force = env.FORCE_COLOR;
  if (force !== undefined) return !["0", "false"].includes(force.toLowerCase());
  return stream.isTTY === true && env.TERM !== "dumb";
}

export type Paint = (format: Format, text: string) => string;

/** A painter for one stream: styleText when colour is on, the text unchanged when it is off. */
export function painter(stream: ColorStream, env: NodeJS.ProcessEnv = process.env): Paint {
  if (!colorEnabled(stream, env)) return (_format, text) => text;
  return (format, text) => (text ? styleText(format, text, { validateStream: false }) : text);
}

/** Each stage's colour, the same on the terminal as on the dashboard's badges. */
export const STAGE_COLOR: Readonly<Record<string, Format>> = {
  queued: "gray",
  assigned: "magenta",
  building: "blue",
  review: "cyan",
  testing: "cyan",
  shipped: "green",
  blocked: "yellow",
  failed: "red",
  dead_letter: "red",
  quarantine: ["bold", "magenta"],
};

const ANSI = /\u001B\[[0-9;]*m/g;

export function stripAnsi(text: string): string {
  return text.replace(ANSI, "");
}
