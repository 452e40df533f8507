import { existsSync, readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { onTestFinished } from "vitest";
import { ROOT } from "./cli.ts";

/** The --import preload that records every module a CLI process loads (see fleet-import-spy.ts). */
export const IMPORT_SPY = join(ROOT, "test", "helpers", "fleet-import-spy.ts");

/** Env for a CLI process that records the modules it loads into `logFile`. */
export function spyEnv(logFile: string): Record<string, string> {
  return { NODE_OPTIONS: `--import ${IMPORT_SPY}`, FLEET_SPY_LOG: logFile };
}

/** The module URLs a spied process loaded. */
export function loadedModules(logFile: string): string[] {
  return existsSync(logFile) ? readFileSync(logFile, "utf8").split("\n").filter(Boolean) : [];
}

/** A loopback server standing in for the coordinator that counts every connection and request and answers 204. */
export interface CountingServer {
  readonly api: string;
  readonly connections: number;
  readonly requests: string[];
  close(): Promise<void>;
}

export async function countingServer(): Promise<CountingServer> {
  let connections = 0;
  const requests: string[] = [];
  const server: Server = createServer((request, response) => {
    requests.push(`${request.method} ${request.url}`);
    request.resume();
    request.on("end", () => response.writeHead(204).end());
  });
  server.on("connection", () => connections++);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  onTestFinished(close);
  return {
    api: `http://127.0.0.1:${port}/api`,
    get connections() {
      return connections;
    },
    requests,
    close,
  };
}

/** A loopback port with nothing listening on it (taken, then given back). */
export async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
