import { spawn } from "node:child_process";
import { BIN, cliEnv } from "./cli.ts";

/**
 * Runs the CLI on a real pseudo-terminal of `cols` columns (util-linux `script`), as a person at
 * a terminal would; stdout and stderr both arrive on the terminal, returned as one text with the
 * terminal's \r\n turned back into \n.
 */
export function aqInPty(
  args: readonly string[],
  options: { cwd: string; env?: Record<string, string | undefined>; cols?: number; timeoutMs?: number },
): Promise<{ code: number | null; output: string }> {
  const quote = (text: string) => `'${text.replace(/'/g, "'\\''")}'`;
  const command = `stty cols ${options.cols ?? 80} rows 40; exec ${[process.execPath, BIN, ...args].map(quote).join(" ")}`;
  const child = spawn("script", ["-qfec", command, "/dev/null"], {
    cwd: options.cwd,
    env: cliEnv(options.env),
    stdio: ["pipe", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stdin.end();
  const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 60_000);
  return new Promise((done) =>
    child.once("close", (code) => {
      clearTimeout(timer);
      done({ code, output: output.replace(/\r\n/g, "\n") });
    }),
  );
}
