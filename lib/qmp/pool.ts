// One long-lived QMP session per endpoint for the whole server process.
//
// Why: QEMU's monitor serves one client at a time (QEMU.md §6), so every part of the server that
// talks to a VM must share one session, and events (which go to every monitor) are then seen once.
//
// Invariants:
//  - At most one session or one connection attempt per key (formatEndpoint); concurrent acquire()
//    calls share the attempt.
//  - A session that ends (peer gone, protocol error, closed) is forgotten at once; the next acquire()
//    reconnects. A failed attempt (refused, monitor busy) is not cached.
//  - close(endpoint)/closeAll() leave no socket open, including attempts still in flight.
import { connectQmp, type QmpClient, type QmpConnectOptions } from "./client";
import { formatEndpoint, type QmpEndpoint } from "./endpoint";
import { QmpError } from "./errors";

export interface QmpPoolOptions extends QmpConnectOptions {
  /** Called when a pooled session ends for any reason other than the pool closing it. */
  onSessionLost?: (endpoint: string, reason: QmpError) => void;
  /** Replaces connectQmp (tests). */
  connect?: typeof connectQmp;
}

interface Entry {
  key: string;
  attempt?: Promise<QmpClient>;
  client?: QmpClient;
  /** close() was called while the attempt was in flight. */
  closing: boolean;
}

export class QmpPool {
  private readonly entries = new Map<string, Entry>();
  private isClosed = false;

  constructor(private readonly opts: QmpPoolOptions = {}) {}

  /** Sessions open or being opened. */
  get size(): number {
    return this.entries.size;
  }

  /** The live session for an endpoint, if any (never connects). */
  peek(endpoint: QmpEndpoint | string): QmpClient | undefined {
    const c = this.entries.get(keyOf(endpoint))?.client;
    return c?.connected ? c : undefined;
  }

  /**
   * The session for `endpoint`, connecting if there is none. `opts` apply only when this call
   * connects. Rejects like connectQmp (QmpConnectError, QmpMonitorBusyError, …).
   */
  async acquire(endpoint: QmpEndpoint, opts: QmpConnectOptions = {}): Promise<QmpClient> {
    if (this.isClosed) throw new QmpError("QMP pool is closed");
    const key = formatEndpoint(endpoint);
    const existing = this.entries.get(key);
    if (existing?.client?.connected) return existing.client;
    if (existing?.attempt) return existing.attempt;
    if (existing) this.entries.delete(key); // a dead client not yet forgotten

    const entry: Entry = { key, closing: false };
    const { connect = connectQmp, onSessionLost: _, ...defaults } = this.opts;
    entry.attempt = connect(endpoint, { ...defaults, ...opts }).then(
      (client) => {
        entry.attempt = undefined;
        if (entry.closing || this.isClosed || this.entries.get(key) !== entry) {
          void client.close();
          throw new QmpError(`QMP session to ${key} was closed while connecting`, { endpoint: key });
        }
        entry.client = client;
        client.onDisconnect((reason) => {
          if (this.entries.get(key) === entry) this.entries.delete(key);
          if (!entry.closing) this.opts.onSessionLost?.(key, reason);
        });
        return client;
      },
      (err) => {
        if (this.entries.get(key) === entry) this.entries.delete(key);
        throw err;
      },
    );
    this.entries.set(key, entry);
    return entry.attempt;
  }

  /** Closes and forgets the session for `endpoint` (waits for an attempt in flight). */
  async close(endpoint: QmpEndpoint | string): Promise<void> {
    const key = keyOf(endpoint);
    const entry = this.entries.get(key);
    if (!entry) return;
    entry.closing = true;
    this.entries.delete(key);
    // A failed connection attempt was already reported to whoever awaited it: here we only wait it out.
    if (entry.attempt) await entry.attempt.catch((err: unknown) => err);
    await entry.client?.close();
  }

  /** Alias of close(): the pool keeps sessions open until told otherwise. */
  release(endpoint: QmpEndpoint | string): Promise<void> {
    return this.close(endpoint);
  }

  /** Closes every session; later acquire() calls reject. */
  async closeAll(): Promise<void> {
    this.isClosed = true;
    await Promise.all([...this.entries.keys()].map((k) => this.close(k)));
  }
}

function keyOf(endpoint: QmpEndpoint | string): string {
  return typeof endpoint === "string" ? endpoint : formatEndpoint(endpoint);
}
