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
enableCompileCache();
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

// Node's compile cache keeps the compiled code of aq's modules between starts (compiling them is
// about 25 ms of an `aq status`, 10 ms with the cache). Not in Node's default place, os.tmpdir(): a
// directory there that another local user made first could hand aq compiled code to run. It goes in
// the user's cache, in a directory this user owns and nobody else may write; aq creates no home
// directory, and any doubt means no cache. NODE_COMPILE_CACHE (another place) and
// NODE_DISABLE_COMPILE_CACHE=1 (none) are Node's own switches and win.
function enableCompileCache() {
  var module = process.getBuiltinModule("node:module");
  var fs = process.getBuiltinModule("node:fs");
  var path = process.getBuiltinModule("node:path");
  var cacheHome = process.env.XDG_CACHE_HOME;
  var base = cacheHome || process.getBuiltinModule("node:os").homedir();
  var dir = base && path.join(cacheHome ? base : path.join(base, ".cache"), "aq", "compile");
  var stat;
  if (!module.enableCompileCache || module.getCompileCacheDir() || process.env.NODE_DISABLE_COMPILE_CACHE) return;
  if (!base || !path.isAbsolute(base)) return;
  try {
    if (!fs.statSync(base).isDirectory()) return;
    stat = fs.lstatSync(dir, { throwIfNoEntry: false });
    if (!stat) {
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
      stat = fs.lstatSync(dir);
    }
    if (!stat.isDirectory()) return;
    if (process.getuid && (stat.uid !== process.getuid() || (stat.mode & 0o022) !== 0)) return;
    pruneCompileCache(fs, path, dir);
    module.enableCompileCache(dir);
  } catch (_error) {
    // no home, an unwritable one, a read-only file system: aq starts without the cache
  }
}

// Node never removes an entry, and one is kept per file path (every temporary config a test suite
// loads, every older aq): once a day, entries not read for a month go, as in the TypeScript cache.
function pruneCompileCache(fs, path, dir) {
  var marker = path.join(dir, ".pruned");
  var now = Date.now();
  var last = fs.statSync(marker, { throwIfNoEntry: false });
  var monthAgo = now - 30 * 24 * 3600 * 1000;
  if (last && now - last.mtimeMs < 24 * 3600 * 1000) return;
  fs.writeFileSync(marker, "");
  fs.readdirSync(dir, { withFileTypes: true }).forEach((version) => {
    if (!version.isDirectory()) return;
    fs.readdirSync(path.join(dir, version.name)).forEach((name) => {
      var file = path.join(dir, version.name, name);
      var stat = fs.lstatSync(file, { throwIfNoEntry: false });
      if (stat && stat.atimeMs < monthAgo) fs.rmSync(file, { force: true });
    });
  });
}
