// Minimal raw QMP over a unix socket for the harness tests only — deliberately independent of lib/qmp,
// so these tests check the harness and the guest kit, not the production client. Line-framed JSON
// (QEMU.md §6): greeting first, then qmp_capabilities; replies carry our numeric id; events are kept.
import net from "node:net";

export interface QmpGreeting {
  QMP: { version: { qemu: { major: number; minor: number; micro: number }; package: string }; capabilities: string[] };
}

type Reply = { return?: unknown; error?: { class: string; desc: string }; id?: number };

export class RawQmp {
  readonly events: { event: string; data?: unknown }[] = [];
  private buffer = "";
  private nextId = 1;
  private readonly pending = new Map<number, (reply: Reply) => void>();
  private greetingWaiter?: (greeting: QmpGreeting) => void;
  private closedError?: Error;

  private constructor(private readonly socket: net.Socket) {
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => this.onData(chunk));
    socket.on("close", () => {
      this.closedError = new Error("QMP connection closed");
      for (const resolve of this.pending.values()) resolve({ error: { class: "Closed", desc: "connection closed" } });
      this.pending.clear();
    });
    socket.on("error", () => {}); // 'close' follows and settles everything
  }

  /** Connects, reads the greeting, negotiates capabilities. */
  static async connect(socketPath: string, timeoutMs = 5_000): Promise<{ qmp: RawQmp; greeting: QmpGreeting }> {
    const socket = net.createConnection(socketPath);
    const qmp = new RawQmp(socket);
    const greeting = await withTimeout(
      new Promise<QmpGreeting>((resolve, reject) => {
        qmp.greetingWaiter = resolve;
        socket.once("error", reject);
      }),
      timeoutMs,
      `no QMP greeting on ${socketPath}`,
    );
    await qmp.execute("qmp_capabilities");
    return { qmp, greeting };
  }

  /** Resolves with `return`, rejects with the QMP error class and description. */
  async execute<T = unknown>(command: string, args?: Record<string, unknown>, timeoutMs = 30_000): Promise<T> {
    if (this.closedError) throw this.closedError;
    const id = this.nextId++;
    const reply = await withTimeout(
      new Promise<Reply>((resolve) => {
        this.pending.set(id, resolve);
        this.socket.write(`${JSON.stringify({ execute: command, ...(args ? { arguments: args } : {}), id })}\n`);
      }),
      timeoutMs,
      `no reply to ${command}`,
    );
    if (reply.error) throw new Error(`${command}: ${reply.error.class}: ${reply.error.desc}`);
    return reply.return as T;
  }

  close(): void {
    this.socket.destroy();
  }

  private onData(chunk: string): void {
    this.buffer += chunk;
    for (let nl = this.buffer.indexOf("\n"); nl >= 0; nl = this.buffer.indexOf("\n")) {
      const line = this.buffer.slice(0, nl).trim();
      this.buffer = this.buffer.slice(nl + 1);
      if (!line) continue;
      const msg = JSON.parse(line) as Reply & Partial<QmpGreeting> & { event?: string; data?: unknown };
      if (msg.QMP && this.greetingWaiter) {
        this.greetingWaiter(msg as QmpGreeting);
        this.greetingWaiter = undefined;
      } else if (msg.event) {
        this.events.push({ event: msg.event, data: msg.data });
      } else if (typeof msg.id === "number") {
        this.pending.get(msg.id)?.(msg);
        this.pending.delete(msg.id);
      }
    }
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Polls query-migrate until completed; rejects on failed/cancelled (QEMU.md §1: status strings). */
export async function waitForMigration(qmp: RawQmp, timeoutMs = 60_000): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const info = await qmp.execute<{ status?: string; "error-desc"?: string }>("query-migrate");
    if (info.status === "completed") return info;
    if (info.status === "failed" || info.status === "cancelled") {
      throw new Error(`migration ${info.status}: ${info["error-desc"] ?? "no error-desc"}`);
    }
    if (Date.now() > deadline)
      throw new Error(`migration not completed within ${timeoutMs} ms: ${JSON.stringify(info)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
