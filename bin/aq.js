#!/usr/bin/env node
// Kept to syntax any Node can parse, so an old Node gets this one line instead of a stack trace.
var v = process.versions.node.split(".").map(Number);
if (!(v[0] >= 24 || (v[0] === 22 && v[1] >= 19))) {
  process.stderr.write("aq: needs Node.js ^22.19 or >=24, this is " + process.version + "; run it as `npx aq` or `npm run aq --` in the project, which use its pinned Node\n");
  process.exit(1);
}
import("../dist/src/cli/main.js").then(
  function (cli) {
    return cli.main(process.argv.slice(2)).then(function (code) {
      // Exit once stdout and stderr are flushed (a pipe may hold a large answer back): keep-alive
      // sockets and timers a plugin left behind must not hold the exit, nor cut the answer short.
      process.stdout.write("", function () {
        process.stderr.write("", function () {
          process.exit(code);
        });
      });
    });
  },
  function (error) {
    process.stderr.write("aq: cannot start: " + (error && error.message ? error.message.split("\n")[0] : error) + " (was `npm run build` run?)\n");
    process.exitCode = 1;
  }
);
