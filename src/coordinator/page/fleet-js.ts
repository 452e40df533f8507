/**
 * The fleet page's script (served as /ui/app.js): plain DOM, every text through textContent. It
 * loads /ui/api/fleet, listens to /ui/api/events and reloads after each `change`; a click on a job
 * opens its runs and events as one timeline.
 */
export const FLEET_JS = `(function () {
  "use strict";
  var state = { data: null, stage: "all", open: null };
  var $ = function (id) { return document.getElementById(id); };
  function el(tag, props) {
    var node = document.createElement(tag);
    if (props) Object.keys(props).forEach(function (key) {
      var value = props[key];
      if (value === undefined || value === null || value === false) return;
      if (key === "text") node.textContent = String(value);
      else if (key === "class") node.className = value;
      else if (key.slice(0, 2) === "on") node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, String(value));
    });
    for (var i = 2; i < arguments.length; i++) {
      var child = arguments[i];
      if (child === undefined || child === null || child === false) continue;
      if (Array.isArray(child)) child.forEach(function (c) { if (c) node.appendChild(c); });
      else node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }
  function span(ms) {
    var s = Math.round(Math.abs(ms) / 1000);
    if (s < 60) return s + "s";
    if (s < 3600) return Math.floor(s / 60) + "m " + ("0" + (s % 60)).slice(-2) + "s";
    if (s < 86400) return Math.floor(s / 3600) + "h " + Math.floor((s % 3600) / 60) + "m";
    return Math.floor(s / 86400) + "d " + Math.floor((s % 86400) / 3600) + "h";
  }
  /** The one time format: how long ago or how soon, the exact time on hover. */
  function when(iso) {
    if (!iso) return el("span", { class: "muted", text: "—" });
    var d = Date.parse(iso) - Date.now();
    return el("time", { datetime: iso, title: new Date(iso).toLocaleString() + " (" + iso + ")", text: d > 1000 ? "in " + span(d) : span(d) + " ago" });
  }
  function badge(stage) { return el("span", { class: "stage s-" + stage, text: stage }); }
  function get(path) {
    return fetch(path, { credentials: "same-origin", headers: { accept: "application/json" } }).then(function (r) {
      return r.json().then(function (body) { if (!r.ok) throw new Error(body.error || String(r.status)); return body; });
    });
  }

  function render() {
    var data = state.data;
    var factories = clear($("factories"));
    data.factories.forEach(function (f) {
      var seen = Date.now() - Date.parse(f.lastSeen);
      factories.appendChild(el("tr", { "data-factory": f.id },
        el("td", { class: "id", text: f.id }),
        el("td", { class: f.health === "ok" ? "ok" : "warn", text: f.health }),
        el("td", { text: Math.round(f.load * 100) + "%" }),
        el("td", { class: seen > 15 * 60 * 1000 ? "bad" : "" }, when(f.lastSeen)),
        el("td", null, f.leases.length ? f.leases.map(function (l) {
          var expired = Date.parse(l.leaseExpiresAt) < Date.now();
          return el("span", { class: "lease" + (expired ? " bad" : ""), "data-lease": l.jobId }, el("b", { text: l.jobId }), " epoch " + l.leaseEpoch + " · " + l.stage + " · " + (expired ? "expired " : "expires "), when(l.leaseExpiresAt));
        }) : el("span", { class: "muted", text: "none" })),
        el("td", { class: "caps wide", text: f.capabilities.join(", ") })));
    });
    if (!data.factories.length) factories.appendChild(el("tr", null, el("td", { colspan: 6, class: "muted", text: "no factory has sent a heartbeat yet" })));

    var counts = {};
    data.jobs.forEach(function (j) { counts[j.stage] = (counts[j.stage] || 0) + 1; });
    var stages = clear($("stages"));
    ["all"].concat(Object.keys(counts).sort()).forEach(function (stage) {
      stages.appendChild(el("button", { type: "button", "data-stage": stage, class: state.stage === stage ? "selected" : "", onclick: function () { state.stage = stage; render(); } },
        stage + " " + (stage === "all" ? data.jobs.length : counts[stage])));
    });
    var jobs = clear($("jobs"));
    data.jobs.filter(function (j) { return state.stage === "all" || j.stage === state.stage; }).forEach(function (j) {
      jobs.appendChild(el("tr", { "data-id": j.id, "data-stage": j.stage, class: j.id === state.open ? "selected" : "", onclick: function () { openJob(j.id); } },
        el("td", { class: "id", text: j.id }), el("td", null, badge(j.stage)), el("td", { text: String(j.leaseEpoch) }),
        el("td", { class: "id", text: j.factoryId || "" }), el("td", null, j.leaseExpiresAt ? when(j.leaseExpiresAt) : null), el("td", null, when(j.updatedAt))));
    });
    if (!data.jobs.length) jobs.appendChild(el("tr", null, el("td", { colspan: 6, class: "muted", text: "no job yet: enqueue one with POST /api/dev/jobs" })));
    $("summary").textContent = data.factories.length + " factor" + (data.factories.length === 1 ? "y" : "ies") + " · " + data.jobs.length + " job" + (data.jobs.length === 1 ? "" : "s");
  }

  function openJob(id) {
    state.open = id;
    render();
    loadTimeline();
  }

  /** Runs and events of the open job, in time order: a reclaim shows as a second run under a new epoch. */
  function loadTimeline() {
    var id = state.open;
    if (!id) return;
    get("/ui/api/jobs/" + encodeURIComponent(id)).then(function (t) {
      if (state.open !== id) return;
      var items = [];
      t.runs.forEach(function (r) { items.push({ at: r.startedAt, node: el("li", { class: "run", "data-run": r.leaseEpoch }, when(r.startedAt), el("b", { text: "run under epoch " + r.leaseEpoch }), " by " + r.factoryId + (r.endedAt ? " · ended " : " · running") , r.endedAt ? when(r.endedAt) : null, r.outcome ? " · " + r.outcome : "") }); });
      t.events.forEach(function (e) { items.push({ at: e.at, node: el("li", { class: "s-" + (e.stage || e.type), "data-event": e.type }, when(e.at), el("b", { text: e.type + (e.stage ? " → " + e.stage : "") }), (e.leaseEpoch !== null ? " · epoch " + e.leaseEpoch : "") + (e.factoryId ? " · " + e.factoryId : ""), e.detail ? el("div", { class: "muted", text: e.detail }) : null) }); });
      items.sort(function (a, b) { return Date.parse(a.at) - Date.parse(b.at); });
      var box = clear($("timeline"));
      box.hidden = false;
      box.setAttribute("data-id", id);
      box.appendChild(el("h2", null, "Timeline of ", el("span", { class: "id", text: id }), " ", badge(t.stage), " epoch " + t.leaseEpoch));
      box.appendChild(el("ol", { class: "timeline" }, items.map(function (i) { return i.node; })));
    }, function (error) { clear($("timeline")).appendChild(el("p", { class: "bad", text: error.message })); });
  }

  var loading = false, again = false;
  function refresh() {
    if (loading) { again = true; return; }
    loading = true;
    get("/ui/api/fleet").then(function (data) { state.data = data; render(); loadTimeline(); }, function () {}).then(function () {
      loading = false;
      if (again) { again = false; refresh(); }
    });
  }

  function listen() {
    var live = $("live");
    var source = new EventSource("/ui/api/events");
    source.addEventListener("open", function () { live.className = "live on"; live.textContent = "live"; });
    source.addEventListener("error", function () { live.className = "live off"; live.textContent = "reconnecting…"; });
    source.addEventListener("change", refresh);
    source.addEventListener("hello", refresh);
  }
  setInterval(function () { if (state.data) render(); }, 5000);
  listen();
})();
`;
