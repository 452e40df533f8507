import { lstatSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { writeFileAtomic } from "../../src/core/atomic-file.ts";
import { tempDir } from "../helpers/temp.ts";

describe("writeFileAtomic", () => {
  for (const durable of [true, false]) {
    it(`replaces a link planted at the destination and never writes its target (durable: ${durable})`, async () => {
      const dir = tempDir();
      const target = join(dir, "outside.txt");
      writeFileSync(target, "untouched\n");
      const path = join(dir, "prompt.txt");
      symlinkSync(target, path);
      await writeFileAtomic(path, "the prompt\n", { durable });
      expect(lstatSync(path).isSymbolicLink()).toBe(false);
      expect(readFileSync(path, "utf8")).toBe("the prompt\n");
      expect(readFileSync(target, "utf8")).toBe("untouched\n");
      expect(readdirSync(dir).sort()).toEqual(["outside.txt", "prompt.txt"]);
    });
  }

  it("many writers at once: each succeeds with a temp of its own, one whole content wins, no temp is left", async () => {
    const dir = tempDir();
    const path = join(dir, "meta.json");
    const contents = Array.from(
      { length: 100 },
      (_, i) => `${JSON.stringify({ writer: i, pad: "x".repeat(i * 50) })}\n`,
    );
    await Promise.all(contents.map((text, i) => writeFileAtomic(path, text, { durable: i % 2 === 0 })));
    expect(contents).toContain(readFileSync(path, "utf8"));
    expect(readdirSync(dir)).toEqual(["meta.json"]);
  });
});
