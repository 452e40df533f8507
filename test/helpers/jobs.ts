import { readFileSync, readdirSync, existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { JobMeta } from "../../src/core/meta.ts";
import { STAGE_NAMES, type Stage } from "../../src/core/stages.ts";

/** Job file text from frontmatter values (written as YAML scalars) and a prompt. */
export function jobText(frontmatter: Record<string, unknown>, body: string): string {
  const lines = Object.entries(frontmatter).map(
    ([key, value]) => `${key}: ${typeof value === "string" ? value : JSON.stringify(value)}`,
  );
  return `---\n${lines.join("\n")}\n---\n${body}\n`;
}

export function writeJob(dir: string, name: string, frontmatter: Record<string, unknown>, body: string): string {
  const path = join(dir, name);
  writeFileSync(path, jobText(frontmatter, body));
  return path;
}

export function stageOf(queueDir: string, id: string): Stage | undefined {
  return STAGE_NAMES.find((stage) => existsSync(join(queueDir, stage, id)));
}

export function idsIn(queueDir: string, stage: Stage): string[] {
  if (!existsSync(join(queueDir, stage))) return [];
  return readdirSync(join(queueDir, stage), { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && !entry.name.startsWith("."))
    .map((entry) => entry.name)
    .sort();
}

export function metaOf(queueDir: string, id: string): JobMeta {
  const stage = stageOf(queueDir, id);
  if (!stage) throw new Error(`job ${id} is in no stage of ${queueDir}`);
  return JSON.parse(readFileSync(join(queueDir, stage, id, "meta.json"), "utf8")) as JobMeta;
}

export function logOf(queueDir: string, id: string): string {
  const stage = stageOf(queueDir, id);
  const path = join(queueDir, stage ?? "queued", id, "log.txt");
  return existsSync(path) ? readFileSync(path, "utf8") : "";
}

/** The stage path a job took, from its history. */
export function pathOf(meta: JobMeta): string[] {
  return meta.history.map((entry) => entry.to);
}
