/** The fleet page's stylesheet (served as /ui/app.css). */
export const FLEET_CSS = `
:root { --fg: #1f2328; --muted: #656d76; --line: #d8dee4; --bg: #f6f8fa; --card: #fff;
  --queued: #6b7280; --claimed: #7c3aed; --building: #2563eb; --review: #0891b2; --testing: #0d9488; --shipped: #16a34a; --blocked: #d97706; --failed: #dc2626; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; flex-wrap: wrap; align-items: baseline; gap: 4px 12px; padding: 10px 20px; background: #0f172a; color: #f9fafb; }
header h1 { margin: 0; font-size: 18px; }
header .muted { color: #9ca3af; }
.live { margin-left: auto; font-size: 12px; color: #9ca3af; }
.live::before { content: ""; display: inline-block; width: 8px; height: 8px; border-radius: 50%; margin-right: 6px; background: #6b7280; }
.live.on::before { background: #22c55e; } .live.off::before { background: #f59e0b; }
main { padding: 14px 20px 30px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px; margin-bottom: 12px; overflow-x: auto; }
h2 { font-size: 14px; margin: 0 0 6px; }
.muted { color: var(--muted); }
table { width: 100%; border-collapse: collapse; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid #eef1f4; vertical-align: top; }
th { font-size: 12px; color: var(--muted); font-weight: 600; }
td.id { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12.5px; }
#jobs tr { cursor: pointer; } #jobs tr:hover { background: #f3f6fa; } #jobs tr.selected { background: #e8f0fe; }
.stage { display: inline-block; padding: 0 7px; border-radius: 10px; color: #fff; font-size: 12px; background: var(--c, var(--queued)); }
.s-queued { --c: var(--queued); } .s-claimed, .s-assigned { --c: var(--claimed); } .s-building { --c: var(--building); } .s-review { --c: var(--review); }
.s-testing { --c: var(--testing); } .s-shipped { --c: var(--shipped); } .s-blocked { --c: var(--blocked); } .s-failed { --c: var(--failed); }
.stages { font-weight: 400; font-size: 12px; margin-left: 8px; }
.stages button { font: inherit; font-size: 12px; margin: 0 4px 0 0; padding: 1px 8px; border: 1px solid var(--line); border-radius: 10px; background: #fff; cursor: pointer; }
.stages button.selected { outline: 2px solid #2563eb; }
.ok { color: var(--shipped); } .warn { color: var(--blocked); } .bad { color: var(--failed); }
.caps { color: var(--muted); font-size: 12px; }
.lease { display: block; font-size: 12.5px; white-space: nowrap; }
.timeline { list-style: none; margin: 4px 0 10px; padding: 0 0 0 14px; border-left: 2px solid var(--line); }
.timeline li { position: relative; margin: 0 0 6px; }
.timeline li::before { content: ""; position: absolute; left: -20px; top: 5px; width: 10px; height: 10px; border-radius: 50%; background: var(--c, var(--queued)); }
.timeline li.run::before { border-radius: 2px; background: #111827; }
.timeline time { color: var(--muted); font-size: 12px; margin-right: 6px; }
time { cursor: help; }
@media (max-width: 640px) { main { padding: 8px; } .wide { display: none; } th, td { padding: 4px 5px; } }
`;
