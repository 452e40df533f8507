import { rmSync } from "node:fs";
import { resolve } from "node:path";
import { defineCommand } from "citty";
import { DURATION_HINT, parseDuration } from "../../core/duration.ts";
import { AqError } from "../../core/errors.ts";
import { isLoopback } from "../../core/http-server.ts";
import { localTokenFile, readTokenFile, writeLocalToken } from "../../contract/local-token.ts";
import { print } from "../_shared.ts";

export default defineCommand({
  meta: {
    name: "coordinator",
    description:
      "Run the development fleet coordinator (docs/design.md, section The coordinator): leases, epochs, 409 fencing, events and runs in SQLite. " +
      "Prints its API URL as the first line; dev-only POST /api/dev/jobs {bodyMd, title?, options?} enqueues a job. " +
      "Every request needs the bearer token: AQ_COORDINATOR_TOKEN, or on loopback one it writes to a 0600 file and names on stderr.",
  },
  args: {
    port: { type: "string", description: "Port to listen on (0: any free port)", default: "4003", valueHint: "n" },
    host: { type: "string", description: "Address to bind; beyond loopback it needs AQ_COORDINATOR_TOKEN", default: "127.0.0.1", valueHint: "host" },
    db: { type: "string", description: "SQLite file (\":memory:\" for none)", default: "aq-coordinator.sqlite", valueHint: "file" },
    lease: { type: "string", description: "Lease length granted on claim and renew", default: "15m", valueHint: "duration" },
  },
  async run({ args }) {
    const port = Number(args.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new AqError("AQ_BAD_USAGE", `aq coordinator: --port must be 0-65535, not ${JSON.stringify(args.port)}`);
    const leaseMs = parseDuration(args.lease);
    if (!leaseMs) throw new AqError("AQ_BAD_USAGE", `aq coordinator: --lease must be ${DURATION_HINT}`);
    const { startCoordinator } = await import("../../coordinator/server.ts");
    const configured = process.env.AQ_COORDINATOR_TOKEN || undefined;
    // On loopback without a token: the one this port had (factories started before a restart keep working), or a new one.
    const local = !configured && isLoopback(args.host);
    const token = configured ?? (local && port !== 0 ? readTokenFile(localTokenFile(port)) : undefined);
    const db = args.db === ":memory:" ? ":memory:" : resolve(args.db);
    const coordinator = await startCoordinator({ port, host: args.host, db, leaseMs, token });
    const tokenFile = local ? writeLocalToken(Number(new URL(coordinator.url).port), coordinator.token) : undefined;
    print(coordinator.api);
    const how = tokenFile ? `token in ${tokenFile}, read by local factories when AQ_FLEET_TOKEN is unset` : "token AQ_COORDINATOR_TOKEN";
    process.stderr.write(`aq coordinator: serving ${coordinator.api} (db ${db}, lease ${args.lease}, ${how}); Ctrl-C stops it\n`);
    await new Promise<void>((done) => {
      const stop = () => done();
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
    });
    await coordinator.close();
    // A port picked at random is not picked again: its token file would only pile up.
    if (tokenFile && port === 0) rmSync(tokenFile, { force: true });
  },
});
