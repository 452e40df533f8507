import type { UserConfig } from "./schema.ts";

/** Types for `aq.config.ts`; returns its argument unchanged. */
export function defineConfig(config: UserConfig): UserConfig {
  return config;
}
