/** How an engine's stdout is read: plain text, or one CLI's JSON lines. Kept apart from the parsers, so that the config schema loads none of them. */
export const OUTPUT_FORMATS = ["text", "claude-stream-json", "codex-json", "gemini-stream-json"] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];
