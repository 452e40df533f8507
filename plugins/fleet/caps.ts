import { accessSync, constants } from "node:fs";
import { arch, platform } from "node:os";
import { delimiter, join } from "node:path";

const TOOLS = ["git", "node", "npm", "docker", "python3", "make", "go", "cargo"];

/**
 * What this factory offers, for the coordinator to match jobs against: its os and arch, the
 * engines whose programs are installed, and the tools on its PATH.
 */
export function detectCapabilities(
  engines: Readonly<Record<string, { command: readonly string[] }>>,
  env: NodeJS.ProcessEnv = process.env,
): string[] {
  const onPath = (program: string) =>
    program.includes("/")
      ? executable(program)
      : (env.PATH ?? "").split(delimiter).some((dir) => dir && executable(join(dir, program)));
  const caps = [`os:${platform()}`, `arch:${arch()}`];
  for (const [name, engine] of Object.entries(engines))
    if (engine.command[0] && onPath(engine.command[0])) caps.push(`engine:${name}`);
  for (const tool of TOOLS) if (onPath(tool)) caps.push(`tool:${tool}`);
  return caps;
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
