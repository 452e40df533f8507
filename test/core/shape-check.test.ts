import * as v from "valibot";
import { describe, expect, it } from "vitest";
import { MetaSchema } from "../../src/core/meta.ts";
import { shapeCheck } from "../../src/core/shape-check.ts";

const at = "2026-01-01T00:00:00.000Z";
const meta = {
  id: "job-1",
  stage: "building",
  attempts: 1,
  priority: 0,
  createdAt: at,
  origin: { kind: "local", adoptedFrom: "job-1.md" },
  history: [
    { from: null, to: "queued", at, by: "test" },
    { from: "queued", to: "building", at, by: "test", reason: "go" },
  ],
  owner: { pid: 1, startTime: "9" },
  engine: { name: "shell", pgid: 7, startedAt: at },
  agent: { name: "claude", turns: 3, extra: true },
  pluginKey: { anything: [1, 2] },
};

describe("a shape check compiled from the meta schema", () => {
  const isPlain = shapeCheck(MetaSchema);

  it("accepts a meta as the store writes it, which valibot would copy unchanged", () => {
    expect(isPlain(meta)).toBe(true);
    expect(v.parse(MetaSchema, meta)).toEqual(meta);
  });

  it.each([
    ["a missing required key", { ...meta, attempts: undefined }],
    ["a wrong type", { ...meta, priority: "high" }],
    ["an unknown stage", { ...meta, stage: "lost" }],
    ["a history entry with a key a strict object strips", { ...meta, history: [{ ...meta.history[0], x: 1 }] }],
    ["an owner with a key a strict object strips", { ...meta, owner: { pid: 1, pgid: 2 } }],
    ["an origin whose kind is not a short lowercase word", { ...meta, origin: { kind: "Not a kind!" } }],
    ["an origin whose kind is not a string", { ...meta, origin: { kind: 7 } }],
    ["not an object", [meta]],
  ])("leaves %s to valibot", (_, value) => {
    const json = JSON.parse(JSON.stringify(value));
    expect(isPlain(json)).toBe(false);
    const parsed = v.safeParse(MetaSchema, json);
    if (parsed.success) expect(parsed.output).not.toEqual(json); // valibot changes it: the copy matters
  });
});

describe("a piped string in a shape check", () => {
  it("tests a regex as valibot does, and leaves any other validation to valibot", () => {
    const schemas = [
      v.pipe(v.string(), v.regex(/^[a-z]+$/)),
      v.pipe(v.string(), v.regex(/^[a-z]+$/), v.regex(/^.{2,4}$/)),
      v.pipe(v.string(), v.minLength(2), v.regex(/^[a-z]+$/)),
    ];
    for (const schema of schemas) {
      const check = shapeCheck(schema);
      for (const value of ["ab", "abc", "abcde", "a", "A", "", 3, null, undefined, "aa", "ba"])
        expect(check(value), `${JSON.stringify(value)}`).toBe(v.is(schema, value));
    }
  });
});
