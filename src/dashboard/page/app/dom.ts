/// <reference lib="dom" />
import type { Stage } from "../../../core/stages.ts";

/** A child of `el`: a node, a text, or nothing (skipped). */
export type Child = Node | string | null | undefined | false | readonly Child[];

type Props = Record<string, string | number | boolean | null | undefined | ((event: Event) => void)>;

export const $ = (id: string): HTMLElement => {
  const node = document.getElementById(id);
  if (!node) throw new Error(`the page has no #${id}`);
  return node;
};

/**
 * An element with its properties and children. `text` sets textContent (every text from the queue
 * goes through it, never innerHTML), `class` the class list, `on…` a listener, the rest attributes.
 */
export function el(tag: string, props?: Props | null, ...children: Child[]): HTMLElement {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (typeof value === "function") node.addEventListener(key.slice(2), value);
    else if (key === "text") node.textContent = String(value);
    else if (key === "class") node.className = String(value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  append(node, children);
  return node;
}

function append(node: Node, children: readonly Child[]): void {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(node, child);
    else node.appendChild(typeof child === "string" ? document.createTextNode(child) : (child as Node));
  }
}

export function clear<T extends Node>(node: T): T {
  while (node.firstChild) node.removeChild(node.firstChild);
  return node;
}

/** Stage colours come from classes (s-review …): the page's CSP allows no inline style. */
export function stageBadge(stage: Stage | string): HTMLElement {
  return el("span", { class: `stage s-${stage}`, text: stage.replace("_", " ") });
}

export const fmt = (n: number): string => Number(n).toLocaleString("en-US");

/** A server-sent event stream whose state the `live` badge shows: "live", or "reconnecting…" while the browser retries. */
export function liveEvents(url: string): EventSource {
  const live = $("live");
  const source = new EventSource(url);
  source.addEventListener("open", () => {
    live.className = "live on";
    live.textContent = "live";
  });
  source.addEventListener("error", () => {
    live.className = "live off";
    live.textContent = "reconnecting…";
  });
  return source;
}
