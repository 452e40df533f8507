import { rmSync } from "node:fs";
import { resolve } from "node:path";
import { defineCommand } from "citty";
import { DURATION_HINT, parseDuration } from "../../core/duration.ts";
import { AqError } from "../../core/errors.ts";
import { isLoopback } from "../../core/http-server.ts";
import { localTokenFile, readTokenFile, writeLocalToken } from "../../contract/local-token.ts";
import { jsonArg, print, printJson } from "../_shared.ts";

/** A database argument as the store sees it: URLs as given, files made absolute. */
function database(db: string): string {
  return db === ":memory:" || /^postgres(ql)?:\/\//i.test(db) ? db : resolve(db);
}

/** The database for people to read: a URL without its password. */
function shown(db: string): string {
  return db.replace(/^(postgres(?:ql)?:\/\/[^:/@]+):[^@]*@/i, "$1:***@");
}

export default defineCommand({
  meta: {
    name: "coordinator",
    description:
      "Run the fleet coordinator (docs/design.md, section The coordinator): leases, epochs, 409 fencing, events and runs in SQLite (the embedded default) or PostgreSQL " +
      "(a postgres:// URL; any number of coordinator processes on one database act as one). " +
      "Prints its API URL as the first line; dev-only POST /api/dev/jobs {bodyMd, title?, options?} enqueues a job. " +
      "Every request needs a bearer token: AQ_COORDINATOR_TOKEN (the operator's), an enrolled factory's, or on loopback one it writes to a 0600 file and names on stderr. " +
      "`aq coordinator migrate` applies pending schema migrations and exits (starting a coordinator applies them too). " +
      "`aq coordinator enroll ID` issues factory ID its own token (printed once, stored hashed); `aq coordinator factories` lists enrollments; " +
      "`aq coordinator revoke ID` revokes its token and fences its leases.",
  },
  args: {
    action: {
      type: "positional",
      description: "migrate | enroll ID | factories | revoke ID: act on --db and exit",
      required: false,
      valueHint: "action",
    },
    factory: {
      type: "positional",
      description: "The factory id to enroll or revoke",
      required: false,
      valueHint: "id",
    },
    port: { type: "string", description: "Port to listen on (0: any free port)", default: "4003", valueHint: "n" },
    host: {
      type: "string",
      description: "Address to bind; beyond loopback it needs AQ_COORDINATOR_TOKEN",
      default: "127.0.0.1",
      valueHint: "host",
    },
    db: {
      type: "string",
      description:
        'SQLite file, ":memory:", or a postgres:// URL (default: AQ_COORDINATOR_DB, else aq-coordinator.sqlite)',
      valueHint: "file|url",
    },
    lease: {
      type: "string",
      description: "Lease length granted on claim and renew",
      default: "15m",
      valueHint: "duration",
    },
    pool: {
      type: "string",
      description: "PostgreSQL connections of this process (default: AQ_COORDINATOR_POOL, else 10)",
      valueHint: "n",
    },
    "accept-shared-token": {
      type: "boolean",
      description:
        "Development: accept the operator token AQ_COORDINATOR_TOKEN from factories even when factories are enrolled",
    },
    "keep-events": {
      type: "string",
      description: "Prune events of finished jobs older than this (default: keep all)",
      valueHint: "duration",
    },
    ...jsonArg,
  },
  async run({ args }) {
    const db = database(args.db || process.env.AQ_COORDINATOR_DB || "aq-coordinator.sqlite");
    if (args.action === "migrate") {
      const { migrate } = await import("../../coordinator/stores.ts");
      const result = await migrate(db);
      if (args.json) printJson({ db: shown(db), ...result });
      else
        print(
          `${result.engine} ${shown(db)}: schema version ${result.current}${result.applied.length ? ` (applied ${result.applied.join(", ")})` : " (up to date)"}`,
        );
      return;
    }
    if (args.action === "enroll" || args.action === "revoke" || args.action === "factories")
      return enrollment(args.action, db, args.factory, Boolean(args.json));
    if (args.action)
      throw new AqError(
        "AQ_BAD_USAGE",
        `aq coordinator: unknown action ${JSON.stringify(args.action)} (migrate, enroll, factories or revoke)`,
      );
    const port = Number(args.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535)
      throw new AqError("AQ_BAD_USAGE", `aq coordinator: --port must be 0-65535, not ${JSON.stringify(args.port)}`);
    const leaseMs = parseDuration(args.lease);
    if (!leaseMs) throw new AqError("AQ_BAD_USAGE", `aq coordinator: --lease must be ${DURATION_HINT}`);
    const poolText = args.pool || process.env.AQ_COORDINATOR_POOL || "10";
    const pool = Number(poolText);
    if (!Number.isInteger(pool) || pool < 1 || pool > 1000)
      throw new AqError("AQ_BAD_USAGE", `aq coordinator: --pool must be 1-1000, not ${JSON.stringify(poolText)}`);
    const keepEventsMs = args["keep-events"] ? parseDuration(args["keep-events"]) : undefined;
    if (args["keep-events"] && !keepEventsMs)
      throw new AqError("AQ_BAD_USAGE", `aq coordinator: --keep-events must be ${DURATION_HINT}`);
    const { startCoordinator } = await import("../../coordinator/server.ts");
    const configured = process.env.AQ_COORDINATOR_TOKEN || undefined;
    // On loopback without a token: the one this port had (factories started before a restart keep working), or a new one.
    const local = !configured && isLoopback(args.host);
    const token = configured ?? (local && port !== 0 ? readTokenFile(localTokenFile(port)) : undefined);
    const acceptSharedToken =
      Boolean(args["accept-shared-token"]) || process.env.AQ_COORDINATOR_ACCEPT_SHARED_TOKEN === "1";
    const coordinator = await startCoordinator({
      port,
      host: args.host,
      db,
      leaseMs,
      token,
      pool,
      keepEventsMs,
      acceptSharedToken,
    });
    const tokenFile = local ? writeLocalToken(Number(new URL(coordinator.url).port), coordinator.token) : undefined;
    print(coordinator.api);
    const how = tokenFile
      ? `token in ${tokenFile}, read by local factories when AQ_FLEET_TOKEN is unset`
      : "token AQ_COORDINATOR_TOKEN";
    process.stderr.write(
      `aq coordinator: serving ${coordinator.api} (${coordinator.fleetStore.engine} ${shown(db)}, lease ${args.lease}, ${how}); Ctrl-C stops it\n`,
    );
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

/** enroll / factories / revoke, straight on the database (no coordinator needs to run). */
async function enrollment(
  action: "enroll" | "revoke" | "factories",
  db: string,
  factory: string | undefined,
  json: boolean,
): Promise<void> {
  if (db === ":memory:")
    throw new AqError(
      "AQ_BAD_USAGE",
      `aq coordinator ${action}: needs the coordinator's database (--db FILE or URL), not :memory:`,
    );
  const { openStore } = await import("../../coordinator/stores.ts");
  const { FactoryId, hashToken, newFactoryToken } = await import("../../coordinator/auth.ts");
  const v = await import("valibot");
  if (action !== "factories" && !v.safeParse(FactoryId, factory).success) {
    throw new AqError(
      "AQ_BAD_USAGE",
      `aq coordinator ${action}: give a factory id (letters, digits, . _ : -), not ${JSON.stringify(factory ?? "")}`,
    );
  }
  const store = await openStore(db, { leaseMs: 60_000, pool: 1 });
  try {
    if (action === "enroll") {
      const token = newFactoryToken();
      await store.enroll(factory!, hashToken(token));
      if (json) printJson({ factoryId: factory, token });
      else print(token);
      if (!json)
        process.stderr.write(
          `aq coordinator: factory ${factory} enrolled; give it AQ_FLEET_TOKEN=<the token above> (shown once, stored hashed)\n`,
        );
    } else if (action === "revoke") {
      const result = await store.revoke(factory!);
      if (json) printJson({ factoryId: factory, ...result });
      else
        print(
          `${factory}: ${result.revoked} token(s) revoked, ${result.fencedJobs.length} lease(s) fenced${result.fencedJobs.length ? ` (${result.fencedJobs.join(", ")})` : ""}`,
        );
    } else {
      const list = await store.enrollments();
      if (json) printJson({ enrollments: list });
      else
        for (const entry of list)
          print(
            `${entry.factoryId}  enrolled ${entry.enrolledAt}${entry.revokedAt ? `  revoked ${entry.revokedAt}` : "  active"}`,
          );
    }
  } finally {
    await store.close();
  }
}
