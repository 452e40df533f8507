/** The page's stylesheet (served as /app.css). */
export const APP_CSS = `
:root { --fg: #1f2328; --muted: #656d76; --line: #d8dee4; --bg: #f6f8fa; --card: #fff; --accent: #2563eb;
  --queued: #6b7280; --assigned: #7c3aed; --building: #2563eb; --review: #0891b2; --testing: #0d9488; --shipped: #16a34a;
  --blocked: #d97706; --failed: #dc2626; --dead_letter: #7f1d1d; --quarantine: #c026d3; }
* { box-sizing: border-box; }
.s-queued { --c: var(--queued); } .s-assigned { --c: var(--assigned); } .s-building { --c: var(--building); } .s-review { --c: var(--review); }
.s-testing { --c: var(--testing); } .s-shipped { --c: var(--shipped); } .s-blocked { --c: var(--blocked); } .s-failed { --c: var(--failed); }
.s-dead_letter { --c: var(--dead_letter); } .s-quarantine { --c: var(--quarantine); }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; align-items: baseline; gap: 12px; padding: 10px 20px; background: #111827; color: #f9fafb; }
header h1 { margin: 0; font-size: 18px; letter-spacing: .5px; }
header .muted { color: #9ca3af; font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12px; }
.live { margin-left: auto; font-size: 12px; color: #9ca3af; }
.live::before { content: ""; display: inline-block; width: 8px; height: 8px; border-radius: 50%; margin-right: 6px; background: #6b7280; }
.live.on::before { background: #22c55e; }
.live.off::before { background: #f59e0b; }
main { padding: 14px 20px 30px; }
.muted { color: var(--muted); }
.counts { display: grid; grid-template-columns: repeat(10, minmax(80px, 1fr)); gap: 8px; margin-bottom: 12px; }
.count { background: var(--card); border: 1px solid var(--line); border-top: 4px solid var(--c, var(--queued)); border-radius: 6px; padding: 8px 10px; cursor: pointer; text-align: left; font: inherit; color: inherit; }
.count b { display: block; font-size: 22px; font-variant-numeric: tabular-nums; }
.count span { font-size: 12px; color: var(--muted); }
.count.zero b { color: #9ca3af; }
.count.selected { outline: 2px solid var(--accent); }
.attention { background: #fdf4ff; border: 1px solid #f0abfc; border-left: 4px solid var(--quarantine); border-radius: 6px; padding: 8px 12px; margin-bottom: 12px; }
.attention button { margin-left: 8px; }
.panel, .notes { background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px; margin-bottom: 12px; }
.panel h2, .detail h2 { font-size: 14px; margin: 0 0 6px; }
.facts { display: flex; flex-wrap: wrap; gap: 4px 18px; margin-bottom: 4px; }
.facts span b { font-weight: 600; }
.ok { color: var(--shipped); } .bad { color: var(--failed); } .warn { color: var(--blocked); }
.notes div { margin: 2px 0; }
.split { display: flex; gap: 14px; align-items: flex-start; }
.jobs { flex: 1 1 auto; min-width: 0; overflow-x: auto; background: var(--card); border: 1px solid var(--line); border-radius: 6px; }
.toolbar { display: flex; gap: 12px; align-items: center; padding: 8px 10px; border-bottom: 1px solid var(--line); }
.toolbar input[type=search] { flex: 1; min-width: 120px; padding: 4px 8px; border: 1px solid var(--line); border-radius: 4px; font: inherit; }
.pager { white-space: nowrap; font-variant-numeric: tabular-nums; }
table { width: 100%; border-collapse: collapse; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid #eef1f4; white-space: nowrap; }
th { font-size: 12px; color: var(--muted); font-weight: 600; background: #fafbfc; }
td.reason { white-space: normal; min-width: 160px; max-width: 280px; color: var(--muted); }
td.id { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12.5px; }
tbody tr { cursor: pointer; }
tbody tr:hover { background: #f3f6fa; }
tbody tr.selected { background: #e8f0fe; }
tbody tr.first td:first-child { box-shadow: inset 3px 0 0 var(--quarantine); }
.stage { display: inline-block; padding: 0 7px; border-radius: 10px; color: #fff; font-size: 12px; background: var(--c, var(--queued)); }
button { font: inherit; font-size: 12px; padding: 2px 8px; border: 1px solid var(--line); border-radius: 4px; background: #fff; cursor: pointer; }
button:hover { border-color: var(--accent); }
button.primary { background: var(--accent); border-color: var(--accent); color: #fff; }
button:disabled { opacity: .5; cursor: default; }
td.actions button + button { margin-left: 4px; }
.detail { flex: 0 0 36%; max-width: 36%; min-width: 0; overflow-wrap: anywhere; background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px; }
.detail .close { float: right; }
.detail .actions { margin: 6px 0 10px; }
.detail .actions button { margin-right: 6px; }
.timeline { list-style: none; margin: 4px 0 10px; padding: 0 0 0 14px; border-left: 2px solid var(--line); }
.timeline li { position: relative; margin: 0 0 6px; }
.timeline li::before { content: ""; position: absolute; left: -20px; top: 5px; width: 10px; height: 10px; border-radius: 50%; background: var(--c, var(--queued)); }
.timeline time { color: var(--muted); font-size: 12px; margin-right: 6px; }
pre.log { background: #0d1117; color: #e6edf3; padding: 8px 10px; border-radius: 6px; max-height: 340px; overflow: auto; font-size: 12px; white-space: pre-wrap; word-break: break-all; margin: 4px 0 10px; }
pre.prompt { background: #f6f8fa; border: 1px solid var(--line); padding: 8px; border-radius: 6px; max-height: 200px; overflow: auto; white-space: pre-wrap; font-size: 12px; }
footer { margin-top: 10px; font-size: 12px; }
.toast { position: fixed; right: 20px; bottom: 20px; max-width: 480px; padding: 10px 14px; border-radius: 6px; background: #111827; color: #fff; box-shadow: 0 4px 14px rgba(0,0,0,.2); }
.toast.error { background: #991b1b; }
td.id .badge { display: inline-block; margin-left: 6px; padding: 0 5px; border: 1px solid var(--line); border-radius: 8px; color: var(--muted); font: 11px system-ui, sans-serif; }
.files { list-style: none; margin: 4px 0 8px; padding: 0; font-size: 12.5px; }
.files li { margin: 1px 0; overflow-wrap: anywhere; }
.files .add, pre.patch .add { color: #1a7f37; } .files .del, pre.patch .del { color: #cf222e; }
.files .add, .files .del { display: inline-block; min-width: 3.2em; font-variant-numeric: tabular-nums; }
pre.patch { background: #f6f8fa; border: 1px solid var(--line); border-radius: 6px; padding: 6px 8px; max-height: 420px; overflow: auto; font-size: 12px; margin: 4px 0 10px; }
pre.patch span { display: block; white-space: pre-wrap; overflow-wrap: anywhere; }
pre.patch .add { background: #e6ffec; } pre.patch .del { background: #ffebe9; } pre.patch .hunk { color: #0550ae; background: #ddf4ff; } pre.patch .meta { color: var(--muted); font-weight: 600; }
pre.log .attempt { display: block; margin: 6px 0 2px; padding: 2px 6px; border-top: 1px solid #30363d; color: #7ee787; font-weight: 600; }
pre.log .attempt time { color: #8b949e; font-weight: 400; }
table.attempts { margin: 2px 0 10px; font-size: 12.5px; }
table.attempts td, table.attempts th { padding: 2px 6px; }
time { cursor: help; }
@media (max-width: 1100px) { .split { flex-direction: column; } .detail { max-width: none; width: 100%; } .counts { grid-template-columns: repeat(5, 1fr); } }
@media (max-width: 640px) {
  header { flex-wrap: wrap; padding: 8px 10px; gap: 4px 10px; }
  header .muted { overflow-wrap: anywhere; min-width: 0; }
  main { padding: 8px 8px 20px; }
  .counts { grid-template-columns: repeat(auto-fill, minmax(68px, 1fr)); gap: 5px; }
  .count { padding: 5px 6px; } .count b { font-size: 18px; }
  .toolbar { flex-wrap: wrap; gap: 6px; }
  .c-engine, .c-origin, .c-activity, .c-tries, .c-pri { display: none; }
  th, td { padding: 4px 5px; }
  td.reason { min-width: 0; max-width: 140px; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
  td.id { max-width: 130px; overflow: hidden; text-overflow: ellipsis; }
  .detail { padding: 8px; }
  .panel table { display: block; overflow-x: auto; }
  .toast { left: 10px; right: 10px; max-width: none; }
}
`;
