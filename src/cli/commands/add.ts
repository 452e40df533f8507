import { readFile } from "node:fs/promises";
import { basename } from "node:path";
import { defineCommand } from "citty";
import { AqError, isErrno, oneLine } from "../../core/errors.ts";
import { checkJobBeforeAdd } from "../../core/job-check.ts";
import { checkJobId, newJobId } from "../../core/job-id.ts";
import { parseJob } from "../../core/job-file.ts";
import { materialize } from "../../core/materialize.ts";
import { commonArgs, jsonArg, openAq, print, printJson } from "../_shared.ts";

export default defineCommand({
  meta: { name: "add", description: "Validate a job file (or - for stdin) and put it in queued/; prints the job's id" },
  args: {
    file: {
      type: "positional",
      description: "The job file (Markdown with YAML frontmatter), or - to read stdin",
      required: false,
    },
    id: { type: "string", description: "The job's id (default: from the file name and the time)", valueHint: "id" },
    "from-tracker": {
      type: "string",
      description: "Materialize the job from a tracker item (needs the tracker-echo plugin)",
      valueHint: "item",
    },
    ...commonArgs,
    ...jsonArg,
  },
  async run({ args }) {
    if (args["from-tracker"] !== undefined) return addFromSource(args, "tracker", args["from-tracker"]);
    if (!args.file)
      throw new AqError("AQ_BAD_USAGE", "aq add: name a job file, or - to read one from stdin (see aq add --help)");
    const source = args.file === "-" ? "stdin" : args.file;
    const text = args.file === "-" ? await readStdin() : await readJobText(args.file);
    const spec = parseJob(text, source);
    const id = args.id ? checkJobId(args.id) : newJobId(args.file === "-" ? undefined : basename(args.file));
    const aq = await openAq(args, "add");
    checkJobBeforeAdd(spec, source, aq.config, aq.engines);
    // Of racing adds of one id exactly one succeeds; the others see the id taken (AQ_CONFLICT: exit 1, one line).
    const record = await aq.store.create({ id, text, spec, origin: { kind: "local" } }, { by: aq.by });
    if (spec.unknownKeys.length)
      aq.logger.warn(`${source}: unknown frontmatter keys kept for plugins: ${spec.unknownKeys.join(", ")}`);
    await aq.lifecycle.created(record, aq.by);
    if (args.json) printJson({ id, stage: record.stage, dir: record.dir });
    else print(id);
  },
});

async function readJobText(path: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (error) {
    if (isErrno(error, "ENOENT")) throw new AqError("AQ_NOT_FOUND", `${path}: no such file`);
    if (isErrno(error, "EISDIR")) throw new AqError("AQ_BAD_USAGE", `${path}: is a directory, not a job file`);
    throw new AqError("AQ_BAD_JOB", `${path}: cannot be read: ${oneLine(error)}`);
  }
}

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) throw new AqError("AQ_BAD_USAGE", "aq add -: stdin is a terminal; pipe a job file in");
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/** A job from elsewhere: the plugin that knows the kind fetches it, the core materializes it. */
async function addFromSource(
  args: { id?: string | undefined; config?: string | undefined; json?: boolean | undefined },
  kind: string,
  ref: string,
): Promise<void> {
  if (!ref) throw new AqError("AQ_BAD_USAGE", `aq add --from-${kind}: name the item`);
  const id = args.id ? checkJobId(args.id) : undefined;
  const aq = await openAq(args, "add");
  const answer = await aq.hooks.jobSource.promise({ kind, ref });
  if (!answer)
    throw new AqError(
      "AQ_BAD_USAGE",
      `aq add --from-${kind}: no plugin reads ${kind} items (is tracker-echo turned off?)`,
    );
  if ("problem" in answer) throw new AqError("AQ_FAILED", `${kind} item ${ref}: ${answer.problem}`);
  const record = await materialize(
    aq.store,
    { ...answer.input, ...(id ? { id } : {}) },
    { stage: "queued", by: aq.by },
  );
  await aq.lifecycle.created(record, aq.by);
  if (args.json) printJson({ id: record.id, stage: record.stage, dir: record.dir });
  else print(record.id);
}
