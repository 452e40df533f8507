/**
 * Preloaded with `node --import` (through NODE_OPTIONS) into a CLI process under test: appends
 * the URL of every module the process loads, one per line, to the file named by
 * FLEET_SPY_LOG. Tests read it to prove which modules were (never) imported.
 */
import { appendFileSync } from "node:fs";
import { registerHooks } from "node:module";

const log = process.env.FLEET_SPY_LOG;
if (log) {
  registerHooks({
    load(url, context, nextLoad) {
      appendFileSync(log, `${url}\n`);
      return nextLoad(url, context);
    },
  });
}
