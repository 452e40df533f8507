/**
 * Random hex digits for names that must not collide (temp files, scratch directories, job ids),
 * from the Web Crypto global: it loads on first use, so a read-only command never pays for
 * loading node:crypto (about 8 ms of a start).
 */
export function randomHex(bytes: number): string {
  return Buffer.from(globalThis.crypto.getRandomValues(new Uint8Array(bytes))).toString("hex");
}
