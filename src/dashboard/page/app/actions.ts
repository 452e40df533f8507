/// <reference lib="dom" />
import { canMove, IN_FLIGHT, STAGE_NAMES, STAGES, type Stage } from "../../../core/stages.ts";
import { type ActionAnswer, jobPath, request } from "./api.ts";
import { $, el } from "./dom.ts";
import { state, view } from "./state.ts";

/** Jobs a person may requeue: those at rest that may go back to queued. */
const RETRYABLE = STAGE_NAMES.filter((stage) => STAGES[stage].terminal && canMove(stage, "queued"));
/** Jobs a person may park: those that may move to blocked and are not held by a runner (cancel those). */
const BLOCKABLE = STAGE_NAMES.filter((stage) => canMove(stage, "blocked") && !IN_FLIGHT.includes(stage));

let toastTimer: ReturnType<typeof setTimeout> | undefined;

export function toast(text: string, error = false): void {
  const node = $("toast");
  node.textContent = text;
  node.className = error ? "toast error" : "toast";
  node.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (node.hidden = true), error ? 8000 : 3500);
}

type Action = "retry" | "promote" | "ship" | "block" | "cancel" | "cancel-fail";

/** The CLI's actions; ship asks first and obeys the same beforeShip rules on the server. */
async function act(id: string, action: Action, stage: Stage): Promise<void> {
  const body: Record<string, unknown> = {};
  let name: string = action;
  if (action === "block") {
    const reason = window.prompt(`Block ${id}: why?`);
    if (!reason?.trim()) return;
    body.reason = reason.trim();
  }
  if (action === "cancel" || action === "cancel-fail") {
    const toFailed = action === "cancel-fail";
    const then = toFailed
      ? "the job goes to failed."
      : "the job goes back to the queue and the attempt does not count.";
    if (!window.confirm(`Cancel ${id}? Its engine's process group is killed; ${then}`)) return;
    body.to = toFailed ? "failed" : "queued";
    name = "cancel";
  }
  if (action === "ship") {
    const force = stage === "review";
    const how = force ? ", without testing (--force)." : ".";
    if (!window.confirm(`Ship ${id}? This merges aq/${id} into its base branch${how}`)) return;
    body.force = force;
  }
  state.busy[id] = action;
  view.render();
  try {
    const answer = await request<ActionAnswer>("POST", jobPath(id, `/${name}`), body);
    toast(`${id}: ${name} → ${answer.stage ?? "done"}`);
  } catch (error) {
    toast(`${id}: ${name} failed: ${(error as Error).message}`, true);
  }
  delete state.busy[id];
  view.refresh();
}

/** The job's actions: all of them in its detail, the next step only in a table row. */
export function actionsFor(job: { id: string; stage: Stage }, rowOnly: boolean): HTMLElement[] {
  let list: Array<[Action, string]> = [];
  if (RETRYABLE.includes(job.stage)) list.push(["retry", "retry"]);
  if (job.stage === "review") list.push(["promote", "promote"]);
  if (job.stage === "testing") list.push(["ship", "ship"]);
  if (job.stage === "review") list.push(["ship", "ship (force)"]);
  if (BLOCKABLE.includes(job.stage)) list.push(["block", "block"]);
  if (job.stage === "building") list.push(["cancel", "cancel"]);
  if (job.stage === "building" && !rowOnly) list.push(["cancel-fail", "cancel → failed"]);
  if (rowOnly) list = list.slice(0, 1);
  const busy = state.busy[job.id];
  return list.map(([action, label]) =>
    el("button", {
      type: "button",
      "data-action": action,
      class: action === "retry" || (action === "ship" && job.stage === "testing") ? "primary" : "",
      disabled: Boolean(busy),
      text: busy === action ? `${label}…` : label,
      onclick: (event) => {
        event.stopPropagation();
        void act(job.id, action, job.stage);
      },
    }),
  );
}
