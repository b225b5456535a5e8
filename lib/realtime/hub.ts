// The realtime hub: owns every browser WebSocket of this process and which topics each follows.
// Publishing never writes to sockets directly: it goes through PostgreSQL NOTIFY, and every process
// (this one included) delivers what it LISTENs to its own sockets — so web and worker processes can
// run apart on one database and a publish reaches every tab whichever process made it.
// Domain code does not import this module: it publishes through the port in publish.ts, which setHub()
// points here.
// Invariants: a socket's subscriptions die with it; a slow tab is dropped, never buffered without bound.
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import pg from "pg";
import { WebSocketServer, type WebSocket } from "ws";
import type { Logger } from "../logger";
import { clientMessageSchema, type ServerMessage } from "./messages";
import { setPublisher, type RealtimeEvent } from "./publish";

const CHANNEL = "snapfleet_events";
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;
/** NOTIFY payloads are limited to 8000 bytes; bigger events travel as a reference to re-read. */
const MAX_NOTIFY_BYTES = 7900;

export type HubEvent = RealtimeEvent;

export class RealtimeHub {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
  private readonly subscriptions = new Map<WebSocket, Set<string>>();
  private listener: pg.Client | undefined;
  private publisher: pg.Pool | undefined;

  constructor(private readonly log: Logger) {
    this.wss.on("connection", (ws) => this.onConnection(ws));
  }

  /** Starts LISTENing; reconnects with backoff if the database connection drops. */
  async start(connectionString: string): Promise<void> {
    this.publisher = new pg.Pool({ connectionString, max: 4 });
    await this.listen(connectionString);
  }

  private async listen(connectionString: string, attempt = 0): Promise<void> {
    const client = new pg.Client({ connectionString });
    client.on("notification", (msg) => {
      if (msg.channel !== CHANNEL || !msg.payload) return;
      try {
        this.deliver(JSON.parse(msg.payload) as HubEvent);
      } catch (err) {
        this.log.warn({ err }, "dropped a malformed realtime notification");
      }
    });
    client.on("error", (err) => {
      this.log.warn({ err }, "realtime LISTEN connection lost; reconnecting");
      this.listener = undefined;
      const delay = Math.min(30_000, 500 * 2 ** attempt);
      setTimeout(() => this.listen(connectionString, attempt + 1).catch(() => {}), delay).unref();
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANNEL}`);
      this.listener = client;
    } catch (err) {
      client.removeAllListeners("error");
      await client.end().catch(() => {});
      if (attempt === 0) throw err;
      const delay = Math.min(30_000, 500 * 2 ** attempt);
      this.log.warn({ err, delay }, "realtime LISTEN failed; retrying");
      setTimeout(() => this.listen(connectionString, attempt + 1).catch(() => {}), delay).unref();
    }
  }

  /** Publishes to every process's subscribers of `topic`. Never throws: realtime is best effort. */
  async publish(event: HubEvent): Promise<void> {
    let body = JSON.stringify(event, bigintReplacer);
    if (Buffer.byteLength(body) > MAX_NOTIFY_BYTES) {
      body = JSON.stringify({ topic: event.topic, name: event.name, payload: { truncated: true } });
    }
    try {
      await this.publisher?.query("SELECT pg_notify($1, $2)", [CHANNEL, body]);
    } catch (err) {
      this.log.warn({ err, topic: event.topic }, "realtime publish failed");
    }
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    this.wss.handleUpgrade(req, socket, head, (ws) => this.wss.emit("connection", ws, req));
  }

  private onConnection(ws: WebSocket): void {
    const topics = new Set<string>();
    this.subscriptions.set(ws, topics);
    ws.on("close", () => this.subscriptions.delete(ws));
    ws.on("error", () => ws.terminate());
    ws.on("message", (raw) => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(String(raw));
      } catch {
        return this.send(ws, { type: "error", message: "frames must be JSON" });
      }
      const result = clientMessageSchema.safeParse(parsed);
      if (!result.success) {
        return this.send(ws, { type: "error", message: result.error.issues.map((i) => i.message).join("; ") });
      }
      const msg = result.data;
      if (msg.type === "ping") return this.send(ws, { type: "pong" });
      for (const t of msg.topics) {
        if (msg.type === "subscribe") topics.add(t);
        else topics.delete(t);
      }
      this.send(ws, { type: "subscribed", topics: [...topics] });
    });
  }

  private deliver(event: HubEvent): void {
    const frame: ServerMessage = { type: "event", topic: event.topic, name: event.name, payload: event.payload };
    const text = JSON.stringify(frame);
    for (const [ws, topics] of this.subscriptions) {
      if (topics.has(event.topic)) this.sendText(ws, text);
    }
  }

  private send(ws: WebSocket, msg: ServerMessage): void {
    this.sendText(ws, JSON.stringify(msg));
  }

  private sendText(ws: WebSocket, text: string): void {
    if (ws.readyState !== ws.OPEN) return;
    if (ws.bufferedAmount > MAX_BUFFERED_BYTES) {
      this.log.warn("dropping a realtime client that stopped reading");
      ws.terminate();
      return;
    }
    ws.send(text);
  }

  get clientCount(): number {
    return this.subscriptions.size;
  }

  async close(): Promise<void> {
    for (const ws of this.subscriptions.keys()) ws.close(1001, "server shutting down");
    this.wss.close();
    this.listener?.removeAllListeners("error");
    await this.listener?.end().catch(() => {});
    await this.publisher?.end().catch(() => {});
  }
}

export function bigintReplacer(_key: string, value: unknown): unknown {
  return typeof value === "bigint" ? Number(value) : value;
}

const g = globalThis as typeof globalThis & { __snapfleetHub?: RealtimeHub };

/**
 * The process's hub; on globalThis so Next's route-handler bundles publish through the same one. Also
 * registers it as the publish port's publisher (publish.ts): domain code publishes through that.
 */
export function setHub(hub: RealtimeHub | undefined): void {
  g.__snapfleetHub = hub;
  setPublisher(hub && ((event) => hub.publish(event)));
}
export function getHub(): RealtimeHub | undefined {
  return g.__snapfleetHub;
}
