#!/usr/bin/env node
// Kept to syntax any Node can parse, so an old Node gets this one line instead of a stack trace.
// aq runs on the Node that starts it: `npx aq` and npm scripts use a project's own node_modules/.bin/node
// first (the `node` package, as this checkout pins it), else the node on PATH.
var v = process.versions.node.split(".").map(Number);
if (!(v[0] >= 24 || (v[0] === 22 && v[1] >= 19))) {
  process.stderr.write(
    "aq: needs Node.js ^22.19 or >=24, and " +
      process.execPath +
      " is " +
      process.version +
      "; install Node 24 (https://nodejs.org, or `nvm install 24`), or pin it in this project with `npm install --save-dev node@24`, which npx and npm scripts then use\n",
  );
  process.exit(1);
}
import("../dist/src/cli/main.js").then(
  (cli) =>
    cli.main(process.argv.slice(2)).then((code) => {
      // Exit once stdout and stderr are flushed (a pipe may hold a large answer back): keep-alive
      // sockets and timers a plugin left behind must not hold the exit, nor cut the answer short.
      process.stdout.write("", () => {
        process.stderr.write("", () => {
          process.exit(code);
        });
      });
    }),
  (error) => {
    process.stderr.write(
      "aq: cannot start: " +
        (error?.message ? error.message.split("\n")[0] : error) +
        " (in a checkout, run `npm run build`)\n",
    );
    process.exitCode = 1;
  },
);
