// The realtime hub: owns every browser WebSocket of this process and which topics each follows.
// Publishing never writes to sockets directly: it goes through PostgreSQL NOTIFY, and every process
// (this one included) delivers what it LISTENs to its own sockets — so web and worker processes can
// run apart on one database and a publish reaches every tab whichever process made it.
// Domain code does not import this module: it publishes through the port in publish.ts, which setHub()
// points here.
// Invariants: a socket's subscriptions die with it; a slow tab is dropped, never buffered without bound.
// Authorization: only upgrades the gate allowed reach handleUpgrade (server.ts → lib/server/gated-server.ts),
// each with its identity; every topic is checked against TOPIC_RULES (lib/auth/route-rules.ts) for that
// identity; connections are capped per process and per identity, topics per socket; a socket whose
// session ended (logout, expiry, user disabled) is closed at the next check.
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import pg from "pg";
import { WebSocketServer, type WebSocket } from "ws";
import { topicAccess } from "../auth/route-rules";
import { roleAtLeast, type Identity } from "../auth/roles";
import type { Logger } from "../logger";
import { processSingleton } from "../process-singleton";
import { redactSecrets } from "../security/redact";
import { clientMessageSchema, type ServerMessage } from "./messages";
import { setPublisher, type RealtimeEvent } from "./publish";

const CHANNEL = "snapfleet_events";
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;
/** NOTIFY payloads are limited to 8000 bytes; bigger events travel as a reference to re-read. */
const MAX_NOTIFY_BYTES = 7900;
export const MAX_CONNECTIONS = 1000;
export const MAX_CONNECTIONS_PER_IDENTITY = 32;
export const MAX_TOPICS_PER_SOCKET = 500;
const SESSION_CHECK_MS = 30_000;

export interface HubLimits {
  maxConnections: number;
  maxConnectionsPerIdentity: number;
  maxTopicsPerSocket: number;
}

export type HubEvent = RealtimeEvent;

export class RealtimeHub {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
  private readonly subscriptions = new Map<WebSocket, Set<string>>();
  private readonly identities = new Map<WebSocket, Identity>();
  private listener: pg.Client | undefined;
  private publisher: pg.Pool | undefined;
  private sessionTimer: NodeJS.Timeout | undefined;
  private readonly limits: HubLimits;
  /** The LISTEN connection was lost: events may have been missed until it is back. */
  private listenGap = false;
  private closing = false;

  constructor(
    private readonly log: Logger,
    options: Partial<HubLimits> & { sessionStillValid?: (sessionId: string) => Promise<boolean> } = {},
  ) {
    this.limits = {
      maxConnections: options.maxConnections ?? MAX_CONNECTIONS,
      maxConnectionsPerIdentity: options.maxConnectionsPerIdentity ?? MAX_CONNECTIONS_PER_IDENTITY,
      maxTopicsPerSocket: options.maxTopicsPerSocket ?? MAX_TOPICS_PER_SOCKET,
    };
    this.wss.on("connection", (ws: WebSocket, _req: IncomingMessage, identity: Identity) =>
      this.onConnection(ws, identity),
    );
    const check = options.sessionStillValid;
    if (check) {
      this.sessionTimer = setInterval(() => void this.closeEndedSessions(check), SESSION_CHECK_MS);
      this.sessionTimer.unref();
    }
  }

  private async closeEndedSessions(stillValid: (sessionId: string) => Promise<boolean>): Promise<void> {
    const bySession = new Map<string, WebSocket[]>();
    for (const [ws, id] of this.identities)
      if (id.sessionId) bySession.set(id.sessionId, [...(bySession.get(id.sessionId) ?? []), ws]);
    for (const [sessionId, sockets] of bySession) {
      const ok = await stillValid(sessionId).catch((err: unknown) => {
        this.log.warn({ err }, "checking a realtime session failed; keeping the socket until the next check");
        return true;
      });
      if (!ok) for (const ws of sockets) ws.close(4401, "session ended");
    }
  }

  /** Starts LISTENing; reconnects with backoff if the database connection drops. */
  async start(connectionString: string): Promise<void> {
    this.publisher = new pg.Pool({ connectionString, max: 4 });
    // An idle pooled connection dropped by the server (PostgreSQL restarted) must not crash the process.
    this.publisher.on("error", (err) =>
      this.log.warn({ err }, "a realtime publish connection was lost; the pool reconnects on demand"),
    );
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
    let lost = false;
    const onLost = (err?: Error) => {
      if (lost || this.closing) return;
      lost = true;
      this.log.warn(
        { err },
        "realtime LISTEN connection lost; reconnecting (browsers are told to resync once it is back)",
      );
      if (this.listener === client) this.listener = undefined;
      this.listenGap = true;
      const delay = Math.min(30_000, 500 * 2 ** Math.min(attempt, 6));
      setTimeout(() => void this.retryListen(connectionString, 1), delay).unref();
    };
    client.on("error", (err) => onLost(err));
    // A server that closes the connection (restart, fast shutdown) may end it without an error event.
    client.on("end", () => onLost());
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANNEL}`);
      this.listener = client;
    } catch (err) {
      lost = true; // this attempt is over: the caller retries, not the handlers above
      client.removeAllListeners("error");
      client.removeAllListeners("end");
      client.on("error", () => undefined); // a late socket error of a dead attempt
      await client.end().catch((e: unknown) => this.log.debug({ err: e }, "closing a failed LISTEN connection failed"));
      throw err;
    }
    if (this.listenGap) {
      // Events published while no LISTEN was up never reached our sockets: tell every browser to re-read.
      this.listenGap = false;
      this.log.info({ clients: this.subscriptions.size }, "realtime LISTEN is back; telling browsers to resync");
      for (const ws of this.subscriptions.keys())
        this.send(ws, { type: "resync", reason: "the server missed live updates for a moment" });
    }
  }

  /** Retries LISTEN with backoff until it works or the hub closes; never throws. */
  private async retryListen(connectionString: string, attempt: number): Promise<void> {
    for (let a = attempt; !this.closing; a++) {
      try {
        await this.listen(connectionString, a);
        return;
      } catch (err) {
        const delay = Math.min(30_000, 500 * 2 ** Math.min(a, 6));
        this.log.warn({ err, delay }, "realtime LISTEN failed; retrying");
        await new Promise((r) => setTimeout(r, delay).unref());
      }
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

  /** Only for upgrades the gate allowed; `identity` is who it allowed. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, identity: Identity): void {
    const refuse = (reason: string): void =>
      void socket.end(
        `HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(reason)}\r\n\r\n${reason}`,
      );
    if (this.subscriptions.size >= this.limits.maxConnections) return refuse("too many realtime connections");
    let mine = 0;
    for (const id of this.identities.values()) if (id.kind === identity.kind && id.id === identity.id) mine++;
    if (mine >= this.limits.maxConnectionsPerIdentity) return refuse("too many realtime connections for this user");
    this.wss.handleUpgrade(req, socket, head, (ws) => this.wss.emit("connection", ws, req, identity));
  }

  private onConnection(ws: WebSocket, identity: Identity): void {
    const topics = new Set<string>();
    this.subscriptions.set(ws, topics);
    this.identities.set(ws, identity);
    ws.on("close", () => {
      this.subscriptions.delete(ws);
      this.identities.delete(ws);
    });
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
      if (msg.type === "subscribe") {
        const denied = msg.topics.filter((t) => {
          const need = topicAccess(t);
          return need === null || !roleAtLeast(identity.role, need);
        });
        if (denied.length)
          return this.send(ws, { type: "error", message: `not allowed to follow ${denied.slice(0, 5).join(", ")}` });
        const added = msg.topics.filter((t) => !topics.has(t)).length;
        if (topics.size + added > this.limits.maxTopicsPerSocket) {
          return this.send(ws, {
            type: "error",
            message: `at most ${this.limits.maxTopicsPerSocket} topics per connection`,
          });
        }
      }
      for (const t of msg.topics) {
        if (msg.type === "subscribe") topics.add(t);
        else topics.delete(t);
      }
      this.send(ws, { type: "subscribed", topics: [...topics] });
    });
  }

  private deliver(event: HubEvent): void {
    const frame: ServerMessage = { type: "event", topic: event.topic, name: event.name, payload: event.payload };
    // Secrets never reach a browser, whatever a payload carries (lib/security/redact.ts).
    const text = redactSecrets(JSON.stringify(frame));
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
    this.closing = true;
    if (this.sessionTimer) clearInterval(this.sessionTimer);
    for (const ws of this.subscriptions.keys()) ws.close(1001, "server shutting down");
    this.wss.close();
    this.listener?.removeAllListeners("error");
    this.listener?.removeAllListeners("end");
    await this.listener?.end().catch((err: unknown) => this.log.debug({ err }, "closing the LISTEN connection failed"));
    await this.publisher?.end().catch((err: unknown) => this.log.debug({ err }, "closing the publish pool failed"));
  }
}

export function bigintReplacer(_key: string, value: unknown): unknown {
  return typeof value === "bigint" ? Number(value) : value;
}

const slot = processSingleton("__snapfleetHub", (): { hub?: RealtimeHub } => ({}));

/**
 * The process's hub; a process singleton so Next's route-handler bundles publish through the same one. Also
 * registers it as the publish port's publisher (publish.ts): domain code publishes through that.
 */
export function setHub(hub: RealtimeHub | undefined): void {
  slot.hub = hub;
  setPublisher(hub && ((event) => hub.publish(event)));
}
export function getHub(): RealtimeHub | undefined {
  return slot.hub;
}
