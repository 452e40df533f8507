/**
 * The page's script (served as /app.js): plain DOM, no framework, no template literals (it lives
 * in a String.raw literal). It loads /api/summary and one page of /api/jobs, then listens to
 * /api/events and reloads what it shows after each `change`; the open job's log is tailed from
 * the byte where it stopped after each `job` event. Every text from the queue goes through
 * textContent, never innerHTML.
 */
export const APP_JS = String.raw`(function () {
  "use strict";
  var TOKEN = document.querySelector('meta[name="aq-token"]').getAttribute("content");
  var STAGES = ["queued", "assigned", "building", "review", "testing", "shipped", "blocked", "failed", "dead_letter", "quarantine"];
  var RETRYABLE = ["failed", "blocked", "dead_letter", "quarantine"];
  var BLOCKABLE = ["queued", "review", "testing", "failed", "quarantine"];
  var PAGE = 50;
  var state = { stage: "active", q: "", offset: 0, total: 0, rows: [], summary: null, open: null, logTo: 0, logPending: "", loading: false, again: false, busy: {} };
  var $ = function (id) { return document.getElementById(id); };

  function el(tag, props) {
    var node = document.createElement(tag);
    if (props) {
      Object.keys(props).forEach(function (key) {
        var value = props[key];
        if (value === undefined || value === null || value === false) return;
        if (key === "text") node.textContent = String(value);
        else if (key === "class") node.className = value;
        else if (key.slice(0, 2) === "on") node.addEventListener(key.slice(2), value);
        else node.setAttribute(key, value === true ? "" : String(value));
      });
    }
    for (var i = 2; i < arguments.length; i++) {
      var child = arguments[i];
      if (child === undefined || child === null || child === false) continue;
      if (Array.isArray(child)) child.forEach(function (c) { if (c) node.appendChild(c); });
      else node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }

  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }
  /** Stage colours come from classes (s-review …): the page's CSP allows no inline style. */
  function badge(stage) { return el("span", { class: "stage s-" + stage, text: stage.replace("_", " ") }); }
  function fmt(n) { return Number(n).toLocaleString("en-US"); }

  function ago(iso) {
    if (!iso) return "";
    var s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
    if (s < 60) return Math.floor(s) + "s";
    if (s < 3600) return Math.floor(s / 60) + "m";
    if (s < 86400) return Math.floor(s / 3600) + "h " + Math.floor((s % 3600) / 60) + "m";
    return Math.floor(s / 86400) + "d " + Math.floor((s % 86400) / 3600) + "h";
  }

  /** The one way the page shows a time: how long ago (or how soon), the exact time on hover. */
  function when(iso, prefix) {
    if (!iso) return el("span", { text: "" });
    var t = Date.parse(iso);
    var future = t > Date.now() + 1000;
    var text = future ? "in " + span(t - Date.now()) : ago(iso) + " ago";
    return el("time", { datetime: iso, title: exact(iso), text: (prefix || "") + text });
  }
  var EXACT = new Intl.DateTimeFormat(undefined, { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short" });
  function exact(iso) { return EXACT.format(new Date(iso)) + " (" + iso + ")"; }
  /** A duration in ms as 850ms, 12s, 4m 05s, 2h 10m. */
  function span(ms) {
    if (ms < 0 || !isFinite(ms)) return "";
    if (ms < 1000) return Math.round(ms) + "ms";
    var s = Math.round(ms / 1000);
    if (s < 60) return s + "s";
    if (s < 3600) return Math.floor(s / 60) + "m " + ("0" + (s % 60)).slice(-2) + "s";
    if (s < 86400) return Math.floor(s / 3600) + "h " + Math.floor((s % 3600) / 60) + "m";
    return Math.floor(s / 86400) + "d " + Math.floor((s % 86400) / 3600) + "h";
  }

  /**
   * Each attempt from the history: it starts when the job is claimed (queued → assigned) and ends
   * when it leaves assigned/building; the time in the queue before it and the engine's time in it.
   */
  function attemptsOf(history) {
    var attempts = [];
    var queuedSince = history.length ? history[0].at : null;
    var current = null;
    history.forEach(function (h) {
      var t = Date.parse(h.at);
      if (h.from === "queued" && h.to === "assigned") {
        current = { n: attempts.length + 1, claimed: h.at, waited: queuedSince ? t - Date.parse(queuedSince) : 0, build: null, buildFrom: null, end: null, outcome: null, reason: null };
        attempts.push(current);
      } else if (current && h.to === "building") {
        current.buildFrom = h.at;
      } else if (current && (h.from === "assigned" || h.from === "building")) {
        current.end = h.at;
        current.outcome = h.to;
        current.reason = h.reason || null;
        if (current.buildFrom) current.build = t - Date.parse(current.buildFrom);
        current = null;
      }
      if (h.to === "queued") queuedSince = h.at;
    });
    if (current && current.buildFrom) current.build = Date.now() - Date.parse(current.buildFrom);
    return attempts;
  }

  function request(method, path, body) {
    var init = { method: method, credentials: "same-origin", headers: { accept: "application/json" } };
    if (method !== "GET") {
      init.headers["content-type"] = "application/json";
      init.headers["x-aq-token"] = TOKEN;
      init.body = JSON.stringify(body || {});
    }
    return fetch(path, init).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) throw new Error(data.error || response.status + " " + response.statusText);
        return data;
      });
    });
  }

  var toastTimer;
  function toast(text, error) {
    var node = $("toast");
    node.textContent = text;
    node.className = error ? "toast error" : "toast";
    node.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { node.hidden = true; }, error ? 8000 : 3500);
  }

  /** The CLI's actions; ship asks first and obeys the same beforeShip rules on the server. */
  function act(id, action, stage) {
    var body = {};
    if (action === "block") {
      var reason = window.prompt("Block " + id + ": why?");
      if (!reason || !reason.trim()) return;
      body.reason = reason.trim();
    }
    if (action === "cancel" || action === "cancel-fail") {
      var toFailed = action === "cancel-fail";
      if (!window.confirm("Cancel " + id + "? Its engine's process group is killed; " + (toFailed ? "the job goes to failed." : "the job goes back to the queue and the attempt does not count."))) return;
      body.to = toFailed ? "failed" : "queued";
      action = "cancel";
    }
    if (action === "ship") {
      var force = stage === "review";
      if (!window.confirm("Ship " + id + "? This merges aq/" + id + " into its base branch" + (force ? ", without testing (--force)." : "."))) return;
      body.force = force;
    }
    state.busy[id] = action;
    render();
    request("POST", "/api/jobs/" + encodeURIComponent(id) + "/" + action, body).then(function (answer) {
      toast(id + ": " + action + " → " + (answer.stage || "done"));
    }, function (error) {
      toast(id + ": " + action + " failed: " + error.message, true);
    }).then(function () {
      delete state.busy[id];
      refresh();
    });
  }

  /** The job's actions: all of them in its detail, the next step only in a table row. */
  function actionsFor(job, rowOnly) {
    var list = [];
    if (RETRYABLE.indexOf(job.stage) >= 0) list.push(["retry", "retry"]);
    if (job.stage === "review") list.push(["promote", "promote"]);
    if (job.stage === "testing") list.push(["ship", "ship"]);
    if (job.stage === "review") list.push(["ship", "ship (force)"]);
    if (BLOCKABLE.indexOf(job.stage) >= 0) list.push(["block", "block"]);
    if (job.stage === "building") list.push(["cancel", "cancel"]);
    if (job.stage === "building" && !rowOnly) list.push(["cancel-fail", "cancel → failed"]);
    if (rowOnly) list = list.slice(0, 1);
    return list.map(function (pair) {
      return el("button", {
        type: "button", "data-action": pair[0], class: pair[0] === "retry" || pair[0] === "ship" && job.stage === "testing" ? "primary" : "",
        disabled: Boolean(state.busy[job.id]), text: state.busy[job.id] === pair[0] ? pair[1] + "…" : pair[1],
        onclick: function (event) { event.stopPropagation(); act(job.id, pair[0], job.stage); },
      });
    });
  }

  function renderCounts() {
    var s = state.summary;
    var box = clear($("counts"));
    STAGES.forEach(function (stage) {
      var n = s.counts[stage] || 0;
      box.appendChild(el("button", {
        type: "button", id: "count-" + stage, "data-stage": stage,
        class: "count s-" + stage + (n ? "" : " zero") + (state.stage === stage ? " selected" : ""),
        onclick: function () { setStage(state.stage === stage ? "active" : stage); },
      }, el("b", { text: fmt(n) }), el("span", { text: stage.replace("_", " ") })));
    });
  }

  function renderAttention() {
    var c = state.summary.counts;
    var box = clear($("attention"));
    var parts = [];
    if (c.quarantine) parts.push(fmt(c.quarantine) + " quarantined");
    if (c.blocked) parts.push(fmt(c.blocked) + " blocked");
    if (c.failed) parts.push(fmt(c.failed) + " failed");
    if (c.dead_letter) parts.push(fmt(c.dead_letter) + " dead-letter");
    box.hidden = parts.length === 0;
    if (!parts.length) return;
    box.appendChild(el("b", { text: "Needs a person: " + parts.join(", ") + "." }));
    box.appendChild(document.createTextNode(" They are listed first; open one for its history, its changes and its log, then retry it, or block it with a reason."));
    if (c.quarantine) box.appendChild(el("button", { type: "button", text: "show quarantined", onclick: function () { setStage("quarantine"); } }));
  }

  function renderFleet() {
    var fleet = state.summary.panels && state.summary.panels.fleet;
    var box = clear($("fleet"));
    box.hidden = !fleet;
    if (!fleet) return;
    var reach = fleet.reachable === undefined || fleet.reachable === null ? el("span", { class: "warn", text: "checking…" })
      : fleet.reachable ? el("span", { class: "ok", text: "reachable" }) : el("span", { class: "bad", text: "not reachable" + (fleet.problem ? " (" + fleet.problem + ")" : "") });
    box.appendChild(el("h2", { text: "Fleet" }));
    box.appendChild(el("div", { class: "facts" },
      el("span", null, "factory ", el("b", { id: "fleet-factory", text: fleet.factoryId })),
      el("span", null, "coordinator ", el("b", { text: fleet.api }), " ", reach),
      el("span", null, "health ", el("b", { class: fleet.health === "ok" ? "ok" : "warn", text: fleet.health })),
      el("span", null, "leases held ", el("b", { text: String(fleet.leases.length) }))));
    if (fleet.leases.length) {
      box.appendChild(el("table", null, el("thead", null, el("tr", null, el("th", { text: "job" }), el("th", { text: "fleet job" }), el("th", { text: "stage" }), el("th", { text: "epoch" }), el("th", { text: "lease expires" }), el("th", { text: "reports waiting" }))),
        el("tbody", null, fleet.leases.map(function (lease) {
          return el("tr", { onclick: function () { openJob(lease.id); } }, el("td", { class: "id", text: lease.id }), el("td", { text: lease.fleetJobId }), el("td", null, badge(lease.stage)),
            el("td", { text: String(lease.leaseEpoch) }), el("td", null, lease.leaseExpiresAt ? when(lease.leaseExpiresAt) : null), el("td", { text: String(lease.waitingReports) }));
        }))));
    }
  }

  function renderNotes() {
    var s = state.summary;
    var box = clear($("notes"));
    var lines = (s.notes || []).slice();
    (s.broken || []).forEach(function (b) { lines.push("!! " + b.stage + "/" + b.id + ": " + b.problem); });
    box.hidden = lines.length === 0;
    lines.forEach(function (line) { box.appendChild(el("div", { text: line })); });
  }

  function renderRows() {
    var body = clear($("rows"));
    state.rows.forEach(function (job) {
      body.appendChild(el("tr", {
        "data-id": job.id, "data-stage": job.stage,
        class: (job.id === state.open ? "selected " : "") + (job.stage === "quarantine" || job.stage === "blocked" ? "first" : ""),
        onclick: function () { openJob(job.id); },
      },
        el("td", { class: "id", text: job.id }),
        el("td", null, badge(job.stage)),
        el("td", { class: "c-age" }, when(job.updatedAt)),
        el("td", { class: "c-pri", text: String(job.priority) }),
        el("td", { class: "c-tries", text: String(job.attempts) }),
        el("td", { class: "c-engine", text: job.engine || "" }),
        el("td", { class: "c-origin", text: job.origin.kind }),
        el("td", { class: "c-epoch", text: job.fleet ? String(job.fleet.leaseEpoch) : "" }),
        el("td", { class: "reason", text: job.reason || "" }),
        el("td", { class: "c-activity" }, job.lastActivityAt ? when(job.lastActivityAt) : null),
        el("td", { class: "actions" }, actionsFor(job, true))));
    });
    if (!state.rows.length) body.appendChild(el("tr", null, el("td", { colspan: 11, class: "muted", text: state.summary && state.summary.total ? "no job matches" : "the queue is empty: add one with aq add FILE" })));
    var fleet = (state.summary && state.summary.panels && state.summary.panels.fleet) || state.rows.some(function (job) { return job.fleet; });
    $("jobs-table").className = fleet ? "" : "no-fleet";
    var first = state.total ? state.offset + 1 : 0;
    $("range").textContent = fmt(first) + "–" + fmt(state.offset + state.rows.length) + " of " + fmt(state.total);
    if (state.rows.length && !performance.getEntriesByName("aq-first-rows").length) performance.mark("aq-first-rows");
    $("prev").disabled = state.offset === 0;
    $("next").disabled = state.offset + PAGE >= state.total;
  }

  function renderRunners() {
    var runners = state.summary.runners || [];
    $("runners").textContent = (runners.length ? "runners: " + runners.map(function (r) { return "pid " + r.pid + " (" + r.mode + ", " + r.concurrency + " slot" + (r.concurrency === 1 ? "" : "s") + ")"; }).join(", ") : "no runner is working on this queue")
      + " · snapshot " + state.summary.version + " built in " + state.summary.buildMs + " ms";
  }

  function render() {
    if (!state.summary) return;
    $("queue").textContent = state.summary.queue + (state.summary.factoryId ? "  ·  factory " + state.summary.factoryId : "");
    renderCounts();
    renderAttention();
    renderFleet();
    renderNotes();
    renderRows();
    renderRunners();
  }

  /** Reloads the summary, the page of jobs and the open job; calls that come meanwhile are merged into one more. */
  function refresh() {
    if (state.loading) { state.again = true; return; }
    state.loading = true;
    var query = "?stage=" + encodeURIComponent(state.stage) + "&q=" + encodeURIComponent(state.q) + "&offset=" + state.offset + "&limit=" + PAGE;
    Promise.all([request("GET", "/api/summary"), request("GET", "/api/jobs" + query)]).then(function (answers) {
      state.summary = answers[0];
      state.rows = answers[1].jobs;
      state.total = answers[1].total;
      if (state.offset > 0 && state.offset >= state.total) { state.offset = Math.max(0, Math.floor((state.total - 1) / PAGE) * PAGE); state.again = true; }
      render();
      if (state.open) return loadDetail(false);
    }).catch(function (error) { toast("cannot load: " + error.message, true); }).then(function () {
      state.loading = false;
      if (state.again) { state.again = false; refresh(); }
    });
  }

  function setStage(stage) {
    state.stage = stage;
    state.offset = 0;
    $("stage").value = stage;
    refresh();
  }

  function openJob(id) {
    state.open = id;
    state.logTo = 0;
    var box = $("detail");
    box.hidden = false;
    clear(box).appendChild(el("p", { class: "muted", text: "loading " + id + "…" }));
    renderRows();
    loadDetail(true);
  }

  function loadDetail(fresh) {
    var id = state.open;
    return request("GET", "/api/jobs/" + encodeURIComponent(id)).then(function (job) {
      if (state.open !== id) return;
      renderDetail(job, fresh);
      return tail(fresh);
    }, function (error) {
      if (state.open !== id) return;
      clear($("detail")).appendChild(el("p", { class: "bad", text: error.message }));
    });
  }

  function renderDetail(job, fresh) {
    var box = $("detail");
    var meta = job.meta;
    var oldLog = fresh ? null : box.querySelector("pre.log");
    var openPrompt = box.querySelector("details[open]");
    clear(box);
    box.setAttribute("data-id", job.id);
    box.setAttribute("data-stage", job.stage);
    box.appendChild(el("button", { type: "button", class: "close", text: "×", title: "close", onclick: function () { state.open = null; box.hidden = true; renderRows(); } }));
    box.appendChild(el("h2", null, el("span", { class: "id", text: job.id }), " ", badge(job.stage)));
    if (meta.reason) box.appendChild(el("p", { class: "bad", text: meta.reason }));
    box.appendChild(el("div", { class: "actions" }, actionsFor({ id: job.id, stage: job.stage })));
    var facts = [["attempts", meta.attempts], ["priority", meta.priority], ["engine", job.engine], ["origin", meta.origin.kind], ["created", when(meta.createdAt)]];
    if (meta.fleet) facts.push(["fleet job", meta.fleet.jobId], ["lease epoch", meta.fleet.leaseEpoch]);
    if (meta.wip) facts.push(["wip", meta.wip.branch + " @ " + meta.wip.commit.slice(0, 12)]);
    if (meta.worktree) facts.push(["worktree", meta.worktree.path]);
    if (meta.lock) facts.push(["lock", meta.lock]);
    var agent = job.agent;
    if (agent) {
      ["name", "model", "sessionId", "turns", "inputTokens", "outputTokens", "costUsd"].forEach(function (key) {
        if (agent[key] !== undefined && agent[key] !== null) facts.push(["agent " + key, key === "costUsd" ? "$" + Number(agent[key]).toFixed(4) : agent[key]]);
      });
      if (agent.lastActivityAt) facts.push(["last activity", when(agent.lastActivityAt)]);
    }
    box.appendChild(el("div", { class: "facts" }, facts.map(function (f) { return el("span", null, f[0] + " ", typeof f[1] === "object" ? el("b", null, f[1]) : el("b", { text: String(f[1]) })); })));
    box.appendChild(renderDurations(meta));
    var oldDiff = fresh ? null : box.querySelector("#diff");
    box.appendChild(oldDiff && oldDiff.getAttribute("data-stage") === job.stage ? oldDiff : el("section", { id: "diff", "data-stage": job.stage }));
    box.appendChild(el("h2", { text: "History" }));
    box.appendChild(el("ol", { class: "timeline" }, meta.history.map(function (h) {
      return el("li", { class: "s-" + h.to }, when(h.at),
        el("b", { text: (h.from || "·") + " → " + h.to }), " by " + h.by, h.reason ? el("div", { class: "muted", text: h.reason }) : null);
    })));
    box.appendChild(el("h2", { text: "Log " }, el("span", { class: "muted", id: "log-size", text: "" })));
    box.appendChild(oldLog || el("pre", { class: "log", id: "log" }));
    if (!oldDiff || oldDiff.getAttribute("data-stage") !== job.stage) loadDiff(job.id);
    if (job.prompt !== undefined) {
      box.appendChild(el("details", { open: Boolean(openPrompt) }, el("summary", { text: "job.md" }), el("pre", { class: "prompt", text: job.prompt })));
    }
  }

  /** Time in the queue, build time and each attempt, from the history. */
  function renderDurations(meta) {
    var attempts = attemptsOf(meta.history);
    var box = el("section", { id: "durations" });
    if (!attempts.length) {
      box.appendChild(el("div", { class: "facts" }, el("span", null, "in the queue ", el("b", { text: span(Date.now() - Date.parse(meta.createdAt)) }))));
      return box;
    }
    var build = attempts.reduce(function (sum, a) { return sum + (a.build || 0); }, 0);
    box.appendChild(el("div", { class: "facts" },
      el("span", null, "waited in the queue ", el("b", { id: "queue-wait", text: span(attempts[0].waited) })),
      el("span", null, "build time ", el("b", { id: "build-time", text: span(build) })),
      el("span", null, "attempts ", el("b", { text: String(attempts.length) }))));
    box.appendChild(el("table", { class: "attempts" }, el("thead", null, el("tr", null, el("th", { text: "#" }), el("th", { text: "claimed" }), el("th", { text: "waited" }), el("th", { text: "built" }), el("th", { text: "then" }))),
      el("tbody", null, attempts.map(function (a) {
        return el("tr", { "data-attempt": a.n }, el("td", { text: String(a.n) }), el("td", null, when(a.claimed)), el("td", { text: span(a.waited) }),
          el("td", { text: a.build === null ? "" : span(a.build) + (a.end ? "" : " so far") }),
          el("td", { class: "reason" }, a.outcome ? badge(a.outcome) : el("span", { class: "muted", text: "running" }), a.reason ? " " + a.reason : ""));
      }))));
    return box;
  }

  /** The job's changes against its base: files with +/−, then the patch, every line as text. */
  function loadDiff(id) {
    request("GET", "/api/jobs/" + encodeURIComponent(id) + "/diff").then(function (answer) {
      var box = $("diff");
      if (!box || state.open !== id) return;
      clear(box);
      var d = answer.diff;
      if (!d) return;
      if (d.problem) { box.appendChild(el("p", { class: "muted", text: "changes: " + d.problem })); return; }
      box.appendChild(el("h2", null, "Changes ", el("span", { class: "muted", text: d.files.length + " file" + (d.files.length === 1 ? "" : "s") })));
      box.appendChild(el("div", { class: "facts" },
        el("span", null, "branch ", el("b", { id: "diff-branch", text: d.branch })),
        el("span", null, "commit ", el("b", { id: "diff-commit", title: d.commit, text: d.commit === "working tree" ? d.commit : d.commit.slice(0, 12) })),
        el("span", null, "base ", el("b", { title: d.base.commit, text: (d.base.branch || "") + " @ " + d.base.commit.slice(0, 12) }))));
      if (!d.files.length) { box.appendChild(el("p", { class: "muted", text: "no changes against the base" })); return; }
      box.appendChild(el("ul", { class: "files" }, d.files.map(function (f) {
        return el("li", null, el("span", { class: "add", text: f.added === null ? "bin" : "+" + f.added }), " ", el("span", { class: "del", text: f.removed === null ? "" : "−" + f.removed }), " ", el("code", { text: f.path }));
      })));
      var pre = el("pre", { class: "patch", id: "patch" });
      var lines = d.patch.split("\n");
      if (lines.length && lines[lines.length - 1] === "") lines.pop();
      lines.slice(0, 5000).forEach(function (line) {
        var kind = /^(\+\+\+|---) /.test(line) || /^diff --git /.test(line) || /^index /.test(line) ? "meta" : line.charAt(0) === "+" ? "add" : line.charAt(0) === "-" ? "del" : line.slice(0, 2) === "@@" ? "hunk" : "";
        pre.appendChild(el("span", { class: kind, text: line + "\n" }));
      });
      if (lines.length > 5000 || d.truncated) pre.appendChild(el("span", { class: "muted", text: "… (cut: the patch is longer; git diff " + d.base.commit.slice(0, 12) + " " + (d.commit === "working tree" ? "" : d.commit.slice(0, 12)) + " shows all of it)\n" }));
      box.appendChild(el("details", { open: lines.length <= 400 }, el("summary", { text: "patch" }), pre));
    }, function () {});
  }

  /** Log text into the log box: a separator line the runner wrote before each attempt becomes a heading with its time. */
  var SEPARATOR = /^──── aq · attempt (\d+) · (\S+) · engine (\S+) ────$/;
  function appendLog(pre, text, flush) {
    var all = state.logPending + text;
    var cut = flush ? all.length : all.lastIndexOf("\n") + 1;
    state.logPending = all.slice(cut);
    var lines = all.slice(0, cut);
    if (!lines) return;
    var run = "";
    var parts = lines.split("\n");
    parts.forEach(function (part, i) {
      var line = i < parts.length - 1 ? part + "\n" : part;
      var m = SEPARATOR.exec(part);
      if (!m) { run += line; return; }
      if (run) { pre.appendChild(document.createTextNode(run)); run = ""; }
      pre.appendChild(el("span", { class: "attempt", "data-attempt": m[1] }, "attempt " + m[1] + " · " + m[3] + " · started ", when(m[2])));
    });
    if (run) pre.appendChild(document.createTextNode(run));
  }

  /** Appends what the log gained since last time (the last 64 KiB on first open); one read at a time. */
  var tailing = null;
  function tail(fresh) {
    if (tailing && !fresh) { tailing.again = true; return tailing.done; }
    var id = state.open;
    var query = fresh ? "" : "?from=" + state.logTo;
    var current = { again: false };
    tailing = current;
    current.done = request("GET", "/api/jobs/" + encodeURIComponent(id) + "/log" + query).then(function (chunk) {
      if (state.open !== id || tailing !== current) return;
      var pre = $("log");
      if (!pre) return;
      var atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 8;
      if (fresh) { clear(pre); state.logPending = ""; if (chunk.from > 0) pre.appendChild(el("span", { class: "muted", text: "… (" + fmt(chunk.from) + " bytes before)\n" })); }
      if (chunk.text || fresh) appendLog(pre, chunk.text, chunk.to >= chunk.size && !/^(queued|assigned|building)$/.test(chunk.stage));
      state.logTo = chunk.to;
      $("log-size").textContent = fmt(chunk.size) + " bytes";
      if (atBottom || fresh) pre.scrollTop = pre.scrollHeight;
      if (chunk.to < chunk.size) current.again = true;
    }).then(function () {
      if (tailing !== current) return;
      tailing = null;
      if (current.again && state.open === id) return tail(false);
    }, function (error) {
      if (tailing === current) tailing = null;
      throw error;
    });
    return current.done;
  }

  function listen() {
    var live = $("live");
    var source = new EventSource("/api/events");
    source.addEventListener("open", function () { live.className = "live on"; live.textContent = "live"; });
    source.addEventListener("error", function () { live.className = "live off"; live.textContent = "reconnecting…"; });
    var hellos = 0;
    source.addEventListener("hello", function () { if (hellos++ > 0) refresh(); }); // a reconnect: catch up
    source.addEventListener("change", function () { refresh(); });
    source.addEventListener("job", function (event) {
      var data = JSON.parse(event.data);
      if (data.id === state.open) tail(false).catch(function () {});
    });
  }

  function init() {
    var select = $("stage");
    [["active", "all but shipped"], ["all", "all"]].concat(STAGES.map(function (s) { return [s, s.replace("_", " ")]; })).forEach(function (pair) {
      select.appendChild(el("option", { value: pair[0], text: pair[1] }));
    });
    select.addEventListener("change", function () { setStage(select.value); });
    var timer;
    $("search").addEventListener("input", function (event) {
      clearTimeout(timer);
      timer = setTimeout(function () { state.q = event.target.value; state.offset = 0; refresh(); }, 250);
    });
    $("prev").addEventListener("click", function () { state.offset = Math.max(0, state.offset - PAGE); refresh(); });
    $("next").addEventListener("click", function () { state.offset += PAGE; refresh(); });
    setInterval(function () { if (state.summary) renderRows(); }, 15000);
    refresh();
    listen();
  }

  init();
})();
`;
