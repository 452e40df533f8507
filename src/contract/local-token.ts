import { lstatSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { isLoopback } from "../core/http-server.ts";

/**
 * The token of a development coordinator on loopback, for the factories of the same user: the
 * coordinator writes it (0600, in a 0700 directory) and the fleet plugin reads it when
 * AQ_FLEET_TOKEN is unset and AQ_FLEET_API names a loopback port. One file per port.
 */
export function localTokenFile(port: number, env: Readonly<NodeJS.ProcessEnv> = process.env): string {
  const state = env.XDG_STATE_HOME || join(env.HOME || homedir(), ".local", "state");
  return join(state, "aq", `coordinator-${port}.token`);
}

/** The token for a loopback API URL, or undefined (not loopback, no file, or a file that anyone else could have written). */
export function readLocalToken(api: string, env: Readonly<NodeJS.ProcessEnv> = process.env): string | undefined {
  let url: URL;
  try {
    url = new URL(api);
  } catch {
    return undefined;
  }
  if (!isLoopback(url.hostname)) return undefined;
  const port = Number(url.port || (url.protocol === "https:" ? 443 : 80));
  return readTokenFile(localTokenFile(port, env));
}

export function readTokenFile(file: string): string | undefined {
  try {
    const stat = lstatSync(file);
    const mine = typeof process.getuid !== "function" || stat.uid === process.getuid();
    if (!stat.isFile() || !mine || (stat.mode & 0o077) !== 0) return undefined;
    const token = readFileSync(file, "utf8").trim();
    return token === "" ? undefined : token;
  } catch {
    return undefined;
  }
}

/** Writes the token for `port` (temp file + rename, 0600) and answers the file's path. */
export function writeLocalToken(port: number, token: string, env: Readonly<NodeJS.ProcessEnv> = process.env): string {
  const file = localTokenFile(port, env);
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const temp = `${file}.${process.pid}.tmp`;
  writeFileSync(temp, `${token}\n`, { mode: 0o600, flag: "w" });
  renameSync(temp, file);
  return file;
}
