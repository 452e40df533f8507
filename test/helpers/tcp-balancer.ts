import { connect, createServer, type Socket } from "node:net";
import { onTestFinished } from "vitest";

/**
 * A round-robin TCP load balancer on loopback, standing in for the operator's HAProxy or nginx in
 * front of several coordinator processes: each new connection goes to the next backend that
 * accepts it; a backend that refuses (killed) is passed over.
 */
export async function tcpBalancer(backends: () => readonly number[]): Promise<{
  readonly api: string;
  readonly port: number;
  connections(): Record<number, number>;
  close(): Promise<void>;
}> {
  let next = 0;
  const counts: Record<number, number> = {};
  const open = new Set<Socket>();
  const server = createServer((client) => {
    open.add(client);
    client.once("close", () => open.delete(client));
    client.pause();
    const ports = backends();
    const attempt = (left: number) => {
      if (left === 0 || client.destroyed) return client.destroy();
      const port = ports[next++ % ports.length]!;
      const upstream = connect(port, "127.0.0.1");
      let connected = false;
      upstream.on("error", () => {
        if (connected) client.destroy();
        else attempt(left - 1);
      });
      upstream.once("connect", () => {
        connected = true;
        counts[port] = (counts[port] ?? 0) + 1;
        open.add(upstream);
        upstream.once("close", () => {
          open.delete(upstream);
          client.destroy();
        });
        client.on("error", () => upstream.destroy());
        client.once("close", () => upstream.destroy());
        client.pipe(upstream);
        upstream.pipe(client);
        client.resume();
      });
    };
    attempt(ports.length);
  });
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const { port } = server.address() as { port: number };
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    for (const socket of open) socket.destroy();
    await new Promise<void>((done) => server.close(() => done()));
  };
  onTestFinished(close);
  return { api: `http://127.0.0.1:${port}/api`, port, connections: () => ({ ...counts }), close };
}
