// The browser side of the realtime protocol, framework-free so it can be tested against the real hub:
// one WebSocket, topics followed by any number of listeners (the first follower subscribes, the last
// one unsubscribes), every frame checked with lib/realtime/messages.ts (zod).
// Invariants: after a reconnect — or a `resync` frame (the hub's LISTEN had a gap) — every followed
// topic is subscribed again and followers' onReconnect runs (events sent while disconnected are not replayed: followers re-read); reconnects back off
// (0.5 s doubling to 10 s, with jitter); a silent connection (no pong within 10 s of a ping) is
// dropped and reconnected; a throwing listener never breaks delivery to the others.
import { serverMessageSchema, type ClientMessage } from "@/lib/realtime/messages";

export type RealtimeStatus = "connecting" | "connected" | "reconnecting";
export type TopicHandler = (name: string, payload: unknown) => void;

export interface Follower {
  handler: TopicHandler;
  onReconnect?: () => void;
}

const PING_EVERY_MS = 25_000;
const PONG_TIMEOUT_MS = 10_000;
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 10_000;

export interface RealtimeClientOptions {
  /** ws:// or wss:// URL of the hub. */
  url: string;
  /** Delay before reconnect attempt n (0-based). Default: 0.5 s doubling to 10 s, ±25 % jitter. */
  backoffMs?: (attempt: number) => number;
}

function defaultBackoff(attempt: number): number {
  return Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** attempt) * (0.75 + Math.random() * 0.5);
}

export class RealtimeClient {
  private ws: WebSocket | undefined;
  private readonly followers = new Map<string, Set<Follower>>();
  private readonly statusListeners = new Set<() => void>();
  private statusValue: RealtimeStatus = "connecting";
  private attempt = 0;
  private everConnected = false;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private pingTimer: ReturnType<typeof setInterval> | undefined;
  private pongTimer: ReturnType<typeof setTimeout> | undefined;
  private closed = false;
  private readonly backoff: (attempt: number) => number;

  constructor(private readonly options: RealtimeClientOptions) {
    this.backoff = options.backoffMs ?? defaultBackoff;
  }

  get status(): RealtimeStatus {
    return this.statusValue;
  }

  start(): void {
    this.closed = false;
    this.connect();
  }

  stop(): void {
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    this.clearHeartbeat();
    this.ws?.close(1000, "page closed");
    this.ws = undefined;
  }

  onStatus(listener: () => void): () => void {
    this.statusListeners.add(listener);
    return () => this.statusListeners.delete(listener);
  }

  follow(topic: string, follower: Follower): () => void {
    let set = this.followers.get(topic);
    if (!set) {
      set = new Set();
      this.followers.set(topic, set);
      this.send({ type: "subscribe", topics: [topic] });
    }
    set.add(follower);
    return () => {
      const current = this.followers.get(topic);
      if (!current) return;
      current.delete(follower);
      if (current.size === 0) {
        this.followers.delete(topic);
        this.send({ type: "unsubscribe", topics: [topic] });
      }
    };
  }

  private setStatus(status: RealtimeStatus): void {
    if (this.statusValue === status) return;
    this.statusValue = status;
    for (const l of this.statusListeners) l();
  }

  private send(msg: ClientMessage): void {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg));
  }

  private connect(): void {
    const ws = new WebSocket(this.options.url);
    this.ws = ws;
    ws.onopen = () => {
      if (this.ws !== ws) return;
      const resumed = this.everConnected;
      this.everConnected = true;
      this.attempt = 0;
      this.setStatus("connected");
      const topics = [...this.followers.keys()];
      // The hub accepts up to 200 topics per frame.
      for (let i = 0; i < topics.length; i += 200) this.send({ type: "subscribe", topics: topics.slice(i, i + 200) });
      this.startHeartbeat();
      if (resumed) for (const set of this.followers.values()) for (const f of set) f.onReconnect?.();
    };
    ws.onmessage = (ev) => {
      if (this.ws !== ws) return;
      let raw: unknown;
      try {
        raw = JSON.parse(String(ev.data));
      } catch {
        return;
      }
      const parsed = serverMessageSchema.safeParse(raw);
      if (!parsed.success) return;
      const msg = parsed.data;
      if (msg.type === "pong") {
        clearTimeout(this.pongTimer);
        this.pongTimer = undefined;
      } else if (msg.type === "event") {
        for (const f of this.followers.get(msg.topic) ?? []) {
          try {
            f.handler(msg.name, msg.payload);
          } catch (err) {
            console.error("realtime handler failed", err);
          }
        }
      } else if (msg.type === "error") {
        console.warn("realtime hub:", msg.message);
      } else if (msg.type === "resync") {
        // The hub missed events (its database LISTEN was down): every follower re-reads, as after a reconnect.
        for (const set of this.followers.values()) for (const f of set) f.onReconnect?.();
      }
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = undefined;
      this.clearHeartbeat();
      if (this.closed) return;
      this.setStatus("reconnecting");
      const delay = this.backoff(this.attempt);
      this.attempt++;
      this.reconnectTimer = setTimeout(() => this.connect(), delay);
    };
  }

  private startHeartbeat(): void {
    this.clearHeartbeat();
    this.pingTimer = setInterval(() => {
      this.send({ type: "ping" });
      this.pongTimer ??= setTimeout(() => this.ws?.close(4000, "no pong"), PONG_TIMEOUT_MS);
    }, PING_EVERY_MS);
  }

  private clearHeartbeat(): void {
    clearInterval(this.pingTimer);
    clearTimeout(this.pongTimer);
    this.pingTimer = undefined;
    this.pongTimer = undefined;
  }
}
