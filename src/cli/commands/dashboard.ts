import { defineCommand } from "citty";
import { AqError } from "../../core/errors.ts";
import { commonArgs, openAq, print } from "../_shared.ts";

export default defineCommand({
  meta: {
    name: "dashboard",
    description:
      "Serve a live web page of this queue (and the fleet when on): counts per stage, the jobs, each job's history and log, " +
      "and the CLI's actions (retry, block, promote, ship). Prints its URL as the first line; Ctrl-C stops it. " +
      "It binds to loopback; beyond loopback it needs AQ_DASHBOARD_TOKEN, then asked of every request (open the URL with ?token=… once). " +
      "It starts no runner and claims no job.",
  },
  args: {
    port: { type: "string", description: "Port to listen on (0: any free port)", default: "4380", valueHint: "n" },
    host: {
      type: "string",
      description: "Address to bind; beyond loopback it needs AQ_DASHBOARD_TOKEN",
      default: "127.0.0.1",
      valueHint: "host",
    },
    ...commonArgs,
  },
  async run({ args }) {
    const port = Number(args.port);
    if (!/^\d+$/.test(args.port) || port > 65535)
      throw new AqError("AQ_BAD_USAGE", `aq dashboard: --port must be 0-65535, not ${JSON.stringify(args.port)}`);
    if (!/^(\[[0-9a-fA-F:.]+\]|[0-9a-fA-F:.]+|[A-Za-z0-9]([A-Za-z0-9.-]{0,252}))$/.test(args.host)) {
      throw new AqError(
        "AQ_BAD_USAGE",
        `aq dashboard: --host must be an address or a host name, not ${JSON.stringify(args.host)}`,
      );
    }
    const accessToken = process.env.AQ_DASHBOARD_TOKEN || undefined;
    (await import("../../dashboard/guard.ts")).checkBinding(args.host, accessToken);
    const aq = await openAq(args, "dashboard");
    const { startDashboard } = await import("../../dashboard/server.ts");
    const dashboard = await startDashboard(aq, { port, host: args.host.replace(/^\[|\]$/g, ""), accessToken });
    print(dashboard.url);
    aq.logger.info(
      `dashboard of ${aq.store.root} at ${dashboard.url}${accessToken ? " (token required: open it once with ?token=…)" : ""}; Ctrl-C stops it`,
    );
    await new Promise<void>((done) => {
      process.once("SIGINT", () => done());
      process.once("SIGTERM", () => done());
    });
    await dashboard.close();
  },
});
