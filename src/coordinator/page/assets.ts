import { pageModules } from "../../dashboard/page/modules.ts";
import { FLEET_CSS } from "./fleet-css.ts";

/** The page's ES modules are served at their path under dist/src, below /ui/js/. */
const MODULES_PATH = "/ui/js/";
const ENTRY = `${MODULES_PATH}coordinator/page/app/main.js`;

const FAVICON =
  "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'%3E%3Crect width='16' height='16' rx='3' fill='%230d9488'/%3E%3Ctext x='8' y='12' font-size='10' text-anchor='middle' fill='white' font-family='sans-serif'%3Eaq%3C/text%3E%3C/svg%3E";

/**
 * The fleet page's files, served by the coordinator itself (no CDN, no network): the HTML, the
 * stylesheet and the page's ES modules as the build compiled them.
 */
export async function fleetPageAssets(): Promise<Record<string, { type: string; body: string }>> {
  const modules = await pageModules(ENTRY, MODULES_PATH);
  // Every module named up front (modulepreload): the browser fetches them at once, not import by import.
  const preload = Object.keys(modules).map((path) => `<link rel="modulepreload" href="${path}">`);
  const assets: Record<string, { type: string; body: string }> = {
    "/": { type: "text/html; charset=utf-8", body: HTML.replace("<!--preload-->", preload.join("\n")) },
    "/ui/app.css": { type: "text/css; charset=utf-8", body: FLEET_CSS },
  };
  for (const [path, body] of Object.entries(modules)) assets[path] = { type: "text/javascript; charset=utf-8", body };
  return assets;
}

const HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>aq fleet</title>
<link rel="icon" href="${FAVICON}">
<link rel="stylesheet" href="/ui/app.css">
<!--preload-->
<script type="module" src="${ENTRY}"></script>
</head>
<body>
<header>
  <h1>aq fleet</h1>
  <span id="summary" class="muted"></span>
  <span id="live" class="live off" title="live updates">connecting…</span>
</header>
<main>
  <section class="card">
    <h2>Factories</h2>
    <table id="factories-table">
      <thead><tr><th>factory</th><th>health</th><th>load</th><th>last seen</th><th>leases held</th><th class="wide">capabilities</th></tr></thead>
      <tbody id="factories"></tbody>
    </table>
  </section>
  <section class="card">
    <h2>Jobs <span id="stages" class="stages"></span></h2>
    <table id="jobs-table">
      <thead><tr><th>job</th><th>stage</th><th>epoch</th><th>factory</th><th>lease expires</th><th>moved</th></tr></thead>
      <tbody id="jobs"></tbody>
    </table>
  </section>
  <section id="timeline" class="card" hidden></section>
</main>
</body>
</html>
`;
