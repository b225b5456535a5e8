// A scripted fake QMP server for the hostile/broken-peer tests only (everything else runs against real
// QEMU). It listens on a unix socket or TCP port, records what the client sends, and lets a test say
// exactly which bytes go back and when. It also tracks its connections so tests can assert that the
// client closed every socket.
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import type { QmpEndpoint } from "../../lib/qmp";

export const GREETING = {
  QMP: { version: { qemu: { micro: 22, minor: 2, major: 7 }, package: "fake" }, capabilities: ["oob"] },
};

export interface ReceivedCommand {
  execute: string;
  arguments?: Record<string, unknown>;
  id?: unknown;
}

/** Server side of one client connection. */
export class FakeConnection {
  private buffer = "";
  private readonly queue: string[] = [];
  private waiters: Array<(line: string) => void> = [];
  readonly closed: Promise<void>;

  constructor(readonly socket: net.Socket) {
    socket.setEncoding("utf8");
    socket.on("error", () => {});
    socket.on("data", (chunk: string) => {
      this.buffer += chunk;
      let nl: number;
      while ((nl = this.buffer.indexOf("\n")) !== -1) {
        const line = this.buffer.slice(0, nl).trim();
        this.buffer = this.buffer.slice(nl + 1);
        if (line.length === 0) continue; // the TLS workaround's lone "\n", or blank lines
        const w = this.waiters.shift();
        if (w) w(line);
        else this.queue.push(line);
      }
    });
    // Not events.once(): it rejects on 'error', and a client hanging up on unread data is ECONNRESET.
    this.closed = new Promise((resolve) => socket.once("close", () => resolve()));
  }

  get isClosed(): boolean {
    return this.socket.destroyed;
  }

  nextLine(): Promise<string> {
    const line = this.queue.shift();
    if (line !== undefined) return Promise.resolve(line);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  async nextCommand(): Promise<ReceivedCommand> {
    return JSON.parse(await this.nextLine()) as ReceivedCommand;
  }

  /** Sends an object as one QMP line, or raw text/bytes as given. */
  send(msg: object | string | Buffer): void {
    if (Buffer.isBuffer(msg) || typeof msg === "string") this.socket.write(msg);
    else this.socket.write(`${JSON.stringify(msg)}\r\n`);
  }

  reply(cmd: ReceivedCommand, value: unknown = {}): void {
    this.send({ return: value, id: cmd.id });
  }

  event(name: string, data?: Record<string, unknown>, seconds = 1_800_000_000, microseconds = 123_456): void {
    this.send({ timestamp: { seconds, microseconds }, event: name, ...(data ? { data } : {}) });
  }

  /** Greeting + accept qmp_capabilities: what QEMU does for a fresh client. */
  async handshake(): Promise<void> {
    this.send(GREETING);
    const cmd = await this.nextCommand();
    if (cmd.execute !== "qmp_capabilities") throw new Error(`expected qmp_capabilities, got ${cmd.execute}`);
    this.reply(cmd);
  }

  /** Writes `data` a few bytes at a time, awaiting each write's flush (a slow drip). */
  async drip(data: string, bytesPerWrite = 1, pauseMs = 0): Promise<void> {
    const buf = Buffer.from(data);
    for (let i = 0; i < buf.length && !this.socket.destroyed; i += bytesPerWrite) {
      await new Promise<void>((resolve) => this.socket.write(buf.subarray(i, i + bytesPerWrite), () => resolve()));
      if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
    }
  }
}

export interface FakePeer {
  endpoint: QmpEndpoint;
  /** Resolves with the next accepted connection. */
  nextConnection(): Promise<FakeConnection>;
  connections: FakeConnection[];
  /** Closes the server and any connection still open; resolves when all are closed. */
  close(): Promise<void>;
}

export async function startFakePeer(kind: "unix" | "tcp" = "unix"): Promise<FakePeer> {
  const connections: FakeConnection[] = [];
  const waiting: Array<(c: FakeConnection) => void> = [];
  const accepted: FakeConnection[] = [];
  const server = net.createServer((socket) => {
    const conn = new FakeConnection(socket);
    connections.push(conn);
    const w = waiting.shift();
    if (w) w(conn);
    else accepted.push(conn);
  });
  let dir: string | undefined;
  let endpoint: QmpEndpoint;
  if (kind === "unix") {
    dir = mkdtempSync(path.join(tmpdir(), "qmp-fake-"));
    const p = path.join(dir, "qmp.sock");
    server.listen(p);
    await once(server, "listening");
    endpoint = { kind: "unix", path: p };
  } else {
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    endpoint = { kind: "tcp", host: "127.0.0.1", port: (server.address() as net.AddressInfo).port };
  }
  return {
    endpoint,
    connections,
    nextConnection() {
      const c = accepted.shift();
      if (c) return Promise.resolve(c);
      return new Promise((resolve) => waiting.push(resolve));
    },
    async close() {
      for (const c of connections) c.socket.destroy();
      await Promise.all(connections.map((c) => c.closed));
      await new Promise<void>((resolve) => server.close(() => resolve()));
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Client-side TCP/TLS handles alive in this process, for leak assertions against a baseline (servers
 * are left out: their handle outlives server.close()'s callback by a loop turn). Unix sockets are
 * "PipeWrap" like the worker's own stdio pipes, so they are checked from the server side instead
 * (every FakeConnection must see 'close').
 */
export function openSocketHandles(): number {
  return process.getActiveResourcesInfo().filter((r) => r === "TCPSocketWrap" || r === "TLSWrap").length;
}
