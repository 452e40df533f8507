import { APP_CSS } from "./app-css.ts";
import { ENTRY, pageModules } from "./modules.ts";

export interface Asset {
  readonly type: string;
  readonly body: string;
}

/**
 * Everything the page needs, served by aq itself (no CDN, no network): the HTML, which carries
 * this process's action token in a <meta> tag, the stylesheet, and the page's ES modules as the
 * build compiled them (the browser loads them by their relative imports, with no bundler).
 */
export async function pageAssets(actionToken: string): Promise<Record<string, Asset>> {
  const modules = await pageModules();
  const assets: Record<string, Asset> = {
    "/": { type: "text/html; charset=utf-8", body: html(actionToken, Object.keys(modules)) },
    "/app.css": { type: "text/css; charset=utf-8", body: APP_CSS },
  };
  for (const [path, body] of Object.entries(modules)) assets[path] = { type: "text/javascript; charset=utf-8", body };
  return assets;
}

const FAVICON =
  "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'%3E%3Crect width='16' height='16' rx='3' fill='%232563eb'/%3E%3Ctext x='8' y='12' font-size='10' text-anchor='middle' fill='white' font-family='sans-serif'%3Eaq%3C/text%3E%3C/svg%3E";

/** The page names every module up front (modulepreload), so the browser fetches them at once, not import by import. */
function html(actionToken: string, modules: readonly string[]): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="aq-token" content="${actionToken}">
<title>aq dashboard</title>
<link rel="icon" href="${FAVICON}">
<link rel="stylesheet" href="/app.css">
${modules.map((path) => `<link rel="modulepreload" href="${path}">`).join("\n")}
<script type="module" src="${ENTRY}"></script>
</head>
<body>
<header>
  <h1>aq</h1>
  <span id="queue" class="muted"></span>
  <span id="live" class="live off" title="live updates">connecting…</span>
</header>
<main>
  <section id="counts" class="counts" aria-label="jobs per stage"></section>
  <section id="attention" class="attention" hidden></section>
  <div id="panels"></div>
  <section id="notes" class="notes" hidden></section>
  <div class="split">
    <section class="jobs">
      <div class="toolbar">
        <label>stage <select id="stage"></select></label>
        <input id="search" type="search" placeholder="filter by id, reason, origin" aria-label="filter">
        <span class="pager"><button id="prev" type="button">‹</button> <span id="range"></span> <button id="next" type="button">›</button></span>
      </div>
      <table id="jobs-table">
        <thead id="head"></thead>
        <tbody id="rows"></tbody>
      </table>
    </section>
    <aside id="detail" class="detail" hidden></aside>
  </div>
  <footer id="runners" class="muted"></footer>
</main>
<div id="toast" class="toast" hidden></div>
</body>
</html>
`;
}
