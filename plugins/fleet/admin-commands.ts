import { AqError, type PluginCommand } from "../../src/index.ts";
import type { FleetSettings } from "./settings.ts";

const ACTIONS = ["add", "jobs", "job", "factories", "cancel"] as const;
type Action = (typeof ACTIONS)[number];

const USAGE = [
  "USAGE  aq fleet <action> [options]   (talks to the coordinator at AQ_FLEET_API with the admin token AQ_COORDINATOR_TOKEN)",
  "",
  "  add FILE.md|- [--requires CAP,...] [--priority N] [--id ID]   enqueue a job file, validated as aq add validates it",
  "  jobs [--stage S] [--json]                                      the fleet's jobs, what they require, and why any wait",
  "  job ID [--json]                                                one job: stage, epoch, holder, requires, runs and events",
  "  factories [--json]                                             health, load, capabilities, last seen, leases held",
  "  cancel ID                                                      cancel a job; its holder is fenced at its next call",
].join("\n");

type Args = Record<string, unknown> & { _?: string[] };

/**
 * `aq fleet ...`, the operator's commands. Registered in every mode of the fleet plugin; each
 * imports what it needs when it runs, so a factory that never runs one imports nothing more.
 */
export function fleetCommand(settings: FleetSettings, env: Readonly<NodeJS.ProcessEnv>): PluginCommand {
  return {
    description:
      "Operate the fleet: add, jobs, job ID, factories, cancel ID (the coordinator's admin token: AQ_COORDINATOR_TOKEN)",
    args: {
      action: { type: "positional", description: ACTIONS.join(", "), required: false },
      target: { type: "positional", description: "The job file (add) or the job id (job, cancel)", required: false },
      requires: {
        type: "string",
        description: "add: capabilities the job needs, comma-separated (engine:codex,tool:docker)",
      },
      priority: { type: "string", description: "add: higher runs first (default: the file's priority, else 0)" },
      id: { type: "string", description: "add: the fleet job's id (default: from the file name and the time)" },
      stage: { type: "string", description: "jobs: only jobs in this stage" },
      json: { type: "boolean", description: "Print JSON" },
    },
    async run(args: Args) {
      const action = String(args.action ?? args._?.[0] ?? "");
      if (action === "" || action === "help" || args.help === true) {
        process.stdout.write(`${USAGE}\n`);
        return action === "" && args.help !== true ? 2 : 0;
      }
      if (!(ACTIONS as readonly string[]).includes(action))
        throw new AqError(
          "AQ_BAD_USAGE",
          `aq fleet: unknown action ${JSON.stringify(action)}: use ${ACTIONS.join(", ")}`,
        );
      const { AdminClient } = await import("./admin-client.ts");
      const client = new AdminClient(settings.api, env.AQ_COORDINATOR_TOKEN || settings.token);
      const { runAdmin } = await import("./admin-actions.ts");
      return runAdmin(action as Action, client, { ...args, target: args.target ?? args._?.[1] });
    },
  };
}
