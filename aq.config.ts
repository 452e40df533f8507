import { defineConfig } from "agent-queue";

// The project's own example config: a queue beside this file, shell jobs by default.
export default defineConfig({
  queueDir: "queue",
  defaults: { engine: "shell", timeout: "15m", maxAttempts: 3 },
  concurrency: 2,
  retry: { backoff: "10s", maxBackoff: "10m" },
  plugins: [],
});
