// The Gemini API, as Gemini CLI uses it (streamGenerateContent with alt=sse, functionCall parts).
import type { ServerResponse } from "node:http";
import { decide, type RecordedRequest, type Script, sendJson, startSse } from "./common.ts";

interface JsonSchema {
  type?: string;
  properties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  enum?: unknown[];
}

export interface GeminiRequest {
  contents?: Array<{ role?: string; parts?: Array<Record<string, unknown>> }>;
  tools?: Array<{ functionDeclarations?: Array<{ name: string }> }>;
  generationConfig?: { responseMimeType?: string; responseJsonSchema?: JsonSchema; responseSchema?: JsonSchema };
}

/** A value of the schema's shape, for a CLI's side call that wants JSON (Gemini CLI's model router). */
function valueOf(schema: JsonSchema | undefined): unknown {
  if (schema?.enum?.length) return schema.enum[0];
  switch (schema?.type?.toLowerCase()) {
    case "object":
      return Object.fromEntries(Object.entries(schema.properties ?? {}).map(([key, value]) => [key, valueOf(value)]));
    case "array":
      return [];
    case "integer":
    case "number":
      return 1;
    case "boolean":
      return false;
    default:
      return "scripted";
  }
}

export function gemini(
  res: ServerResponse,
  record: RecordedRequest,
  body: GeminiRequest,
  script: Script | undefined,
): void {
  const path = record.path;
  if (path.includes(":countTokens")) return sendJson(res, 200, { totalTokens: 100 });
  const answeredTool = (body.contents ?? []).some((c) => (c.parts ?? []).some((part) => "functionResponse" in part));
  const functions = (body.tools ?? []).flatMap((t) => t.functionDeclarations ?? []);
  const shell = functions.find((f) => f.name === "run_shell_command");
  let parts: Array<Record<string, unknown>>;
  record.shellOffered = Boolean(shell);
  record.answer = decide(script, functions.length, Boolean(shell), answeredTool);
  if (record.answer === "tool") {
    parts = [
      {
        functionCall: {
          name: shell!.name,
          args: { command: script!.run, description: "Run the command the job names" },
        },
      },
    ];
  } else if (record.answer === "final") {
    parts = [{ text: script!.say }];
  } else {
    const wantsJson = body.generationConfig?.responseMimeType === "application/json";
    parts = [
      {
        text: wantsJson
          ? JSON.stringify(valueOf(body.generationConfig?.responseJsonSchema ?? body.generationConfig?.responseSchema))
          : "ok",
      },
    ];
  }
  const chunk = {
    candidates: [{ content: { role: "model", parts }, finishReason: "STOP", index: 0 }],
    usageMetadata: { promptTokenCount: 300, candidatesTokenCount: 50, totalTokenCount: 350 },
    modelVersion: "gemini-scripted",
  };
  if (!path.includes(":streamGenerateContent")) return sendJson(res, 200, chunk);
  const send = startSse(res);
  send(undefined, chunk);
  res.end();
}
