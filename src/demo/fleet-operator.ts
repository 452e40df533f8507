import { join } from "node:path";
import { promote } from "../actions/promote.ts";
import { ship } from "../actions/ship.ts";
import { type Aq, createAq } from "../app.ts";
import type { CoordinatorJob } from "../coordinator/fleet-store.ts";
import { oneLine } from "../core/errors.ts";
import { createLogger } from "../core/logger.ts";
import { type Factory, safeList } from "./fleet-fixture.ts";

const operators = new Map<string, Promise<Aq>>();

/** The operator's view of a factory's queue: the same actions as `aq promote` and `aq ship`, in this process. */
function operatorOf(factory: Factory): Promise<Aq> {
  let aq = operators.get(factory.dir);
  if (!aq) {
    const logger = createLogger({ level: "error" });
    aq = createAq({
      cwd: factory.dir,
      by: "cli:operator",
      logger,
      env: {
        ...process.env,
        AQ_FLEET: "1",
        AQ_FLEET_API: factory.api,
        AQ_FLEET_TOKEN: factory.token,
        AQ_FACTORY_ID: factory.name,
      },
    });
    operators.set(factory.dir, aq);
  }
  return aq;
}

/** As an operator would: each job in review at the factory holding its current lease is promoted and shipped. */
export async function shipReady(
  factories: readonly Factory[],
  jobs: readonly CoordinatorJob[],
  shipped: Map<string, string>,
  say: (line: string) => void,
): Promise<void> {
  for (const job of jobs) {
    if (job.stage !== "review" || shipped.has(job.id)) continue;
    const factory = factories.find((f) => f.name === job.factoryId && f.child);
    if (!factory) continue;
    const local = `fleet-${job.id}-e${job.leaseEpoch}`;
    if (!safeList(join(factory.queue, "review")).includes(local)) continue;
    try {
      const aq = await operatorOf(factory);
      if ((await promote(aq, local)).stage !== "testing") continue;
      await ship(aq, local);
      shipped.set(job.id, factory.name);
    } catch (error) {
      say(`${local}: not shipped this round: ${oneLine(error)}`);
    }
  }
}
