import { existsSync } from "node:fs";

/** Debian's chromium (installed by .ci/run), or AQ_CHROMIUM. */
export const CHROMIUM = process.env.AQ_CHROMIUM || "/usr/bin/chromium";

/** Flags for a closed network: without the background-networking ones chromium stalls on start. */
export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

// `node test/browser/chromium.ts` (the first step of `npm run test:browser`): one line and exit 1 when it is missing.
if (import.meta.url === `file://${process.argv[1]}`) {
  if (!existsSync(CHROMIUM)) {
    process.stderr.write(
      `test:browser: no chromium at ${CHROMIUM}: install it (apt-get install -y chromium) or set AQ_CHROMIUM to its path\n`,
    );
    process.exit(1);
  }
}
