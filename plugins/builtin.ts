import type { BuiltinPlugin } from "../src/plugin/define.ts";

/**
 * The plugins that ship with aq, in load order. Each declares its switch here, so that a plugin
 * that is off is never imported; removing a plugin's folder needs only its entry here.
 */
export const BUILTIN_PLUGINS: readonly BuiltinPlugin[] = [
  { name: "tracker-echo", load: () => import("./tracker-echo/index.ts") },
  {
    name: "fleet",
    // AQ_FLEET=1 (or shadow), or with AQ_FLEET unset ['fleet', { enabled: true }]; a set AQ_FLEET wins.
    switch: { env: "AQ_FLEET", on: ["1", "shadow"], option: "enabled" },
    load: () => import("./fleet/index.ts"),
  },
];
