/// <reference lib="dom" />
import type { JobDiff } from "../../diff.ts";
import { type DiffAnswer, jobPath, request } from "./api.ts";
import { clear, el } from "./dom.ts";
import { state } from "./state.ts";

/** Lines of a patch shown at most; past them the page says how to see the rest. */
const PATCH_LINES = 5000;

/** The job's changes against its base: files with +/−, then the patch, every line as text. */
export function loadDiff(id: string): void {
  request<DiffAnswer>("GET", jobPath(id, "/diff")).then(
    (answer) => {
      const box = document.getElementById("diff");
      if (!box || state.open !== id) return;
      clear(box);
      const d = answer.diff;
      if (!d) return;
      if ("problem" in d) box.appendChild(el("p", { class: "muted", text: `changes: ${d.problem}` }));
      else renderDiff(box, d);
    },
    () => {},
  );
}

function renderDiff(box: HTMLElement, d: JobDiff): void {
  const files = `${d.files.length} file${d.files.length === 1 ? "" : "s"}`;
  box.appendChild(el("h2", null, "Changes ", el("span", { class: "muted", text: files })));
  const commit = d.commit === "working tree" ? d.commit : d.commit.slice(0, 12);
  box.appendChild(
    el(
      "div",
      { class: "facts" },
      el("span", null, "branch ", el("b", { id: "diff-branch", text: d.branch })),
      el("span", null, "commit ", el("b", { id: "diff-commit", title: d.commit, text: commit })),
      el(
        "span",
        null,
        "base ",
        el("b", { title: d.base.commit, text: `${d.base.branch || ""} @ ${d.base.commit.slice(0, 12)}` }),
      ),
    ),
  );
  if (!d.files.length) {
    box.appendChild(el("p", { class: "muted", text: "no changes against the base" }));
    return;
  }
  box.appendChild(
    el(
      "ul",
      { class: "files" },
      d.files.map((f) =>
        el(
          "li",
          null,
          el("span", { class: "add", text: f.added === null ? "bin" : `+${f.added}` }),
          " ",
          el("span", { class: "del", text: f.removed === null ? "" : `−${f.removed}` }),
          " ",
          el("code", { text: f.path }),
        ),
      ),
    ),
  );
  const pre = el("pre", { class: "patch", id: "patch" });
  const lines = d.patch.split("\n");
  if (lines.at(-1) === "") lines.pop();
  for (const line of lines.slice(0, PATCH_LINES))
    pre.appendChild(el("span", { class: kindOf(line), text: `${line}\n` }));
  if (lines.length > PATCH_LINES || d.truncated) {
    const range = `${d.base.commit.slice(0, 12)} ${d.commit === "working tree" ? "" : d.commit.slice(0, 12)}`;
    const text = `… (cut: the patch is longer; git diff ${range} shows all of it)\n`;
    pre.appendChild(el("span", { class: "muted", text }));
  }
  box.appendChild(el("details", { open: lines.length <= 400 }, el("summary", { text: "patch" }), pre));
}

function kindOf(line: string): string {
  if (/^(\+\+\+|---) /.test(line) || /^diff --git /.test(line) || /^index /.test(line)) return "meta";
  if (line.startsWith("+")) return "add";
  if (line.startsWith("-")) return "del";
  return line.startsWith("@@") ? "hunk" : "";
}
