// QmpPool against the scripted peer (the pool's bookkeeping; real-QEMU "monitor busy" with a pooled
// session is in client.qemu.test.ts): one session per endpoint, shared attempts, lazy reconnect,
// failures not cached, closing while connecting.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { QmpError, QmpMonitorBusyError, QmpPool, formatEndpoint } from "../../lib/qmp";
import { startFakePeer, type FakePeer } from "./fake-peer";

const OPTS = { connectTimeoutMs: 1000, greetingTimeoutMs: 200, commandTimeoutMs: 2000 };

let peer: FakePeer;
let pool: QmpPool;
const lost: string[] = [];

beforeEach(async () => {
  peer = await startFakePeer("unix");
  lost.length = 0;
  pool = new QmpPool({ ...OPTS, onSessionLost: (ep, reason) => lost.push(`${ep}: ${reason.name}`) });
});

afterEach(async () => {
  await pool.closeAll();
  expect(pool.size).toBe(0);
  // Every connection the pool opened must have been closed by the pool.
  await Promise.all(peer.connections.map((c) => c.closed));
  await peer.close();
});

/** An acquire the peer answers with its greeting and capabilities: the pooled session and its connection. */
async function acquireAnswered() {
  const acquired = pool.acquire(peer.endpoint);
  const conn = await peer.nextConnection();
  await conn.handshake();
  return { client: await acquired, conn };
}

describe("QmpPool", () => {
  it("concurrent acquires share one connection; later acquires reuse the session", async () => {
    const a = pool.acquire(peer.endpoint);
    const b = pool.acquire(peer.endpoint);
    const conn = await peer.nextConnection();
    await conn.handshake();
    const [ca, cb] = await Promise.all([a, b]);
    expect(ca).toBe(cb);
    expect(await pool.acquire(peer.endpoint)).toBe(ca);
    expect(pool.peek(peer.endpoint)).toBe(ca);
    expect(pool.peek(formatEndpoint(peer.endpoint))).toBe(ca);
    expect(peer.connections).toHaveLength(1);
    expect(pool.size).toBe(1);
  });

  it("a session the peer drops is forgotten and reported; the next acquire reconnects", async () => {
    const { client: c1, conn: conn1 } = await acquireAnswered();
    conn1.socket.destroy();
    await c1.disconnected;
    expect(pool.size).toBe(0);
    expect(pool.peek(peer.endpoint)).toBeUndefined();
    expect(lost).toEqual([`${formatEndpoint(peer.endpoint)}: QmpDisconnectedError`]);

    const { client: c2 } = await acquireAnswered();
    expect(c2).not.toBe(c1);
    expect(c2.connected).toBe(true);
    await c1.close();
  });

  it("a busy monitor is reported and not cached", async () => {
    const busy = pool.acquire(peer.endpoint);
    await peer.nextConnection(); // the peer stays silent, like QEMU serving another client
    await expect(busy).rejects.toBeInstanceOf(QmpMonitorBusyError);
    expect(pool.size).toBe(0);

    expect((await acquireAnswered()).client.connected).toBe(true);
  });

  it("close(endpoint) while connecting fails the attempt and leaves no socket open", async () => {
    const attempt = pool.acquire(peer.endpoint);
    const conn = await peer.nextConnection();
    const closing = pool.close(peer.endpoint);
    await conn.handshake();
    await expect(attempt).rejects.toBeInstanceOf(QmpError);
    await closing;
    await conn.closed;
    expect(pool.size).toBe(0);
  });

  it("closeAll() closes sessions without reporting them lost; acquire afterwards is refused", async () => {
    const { client, conn } = await acquireAnswered();
    await pool.closeAll();
    expect(client.connected).toBe(false);
    await conn.closed;
    expect(lost).toEqual([]);
    await expect(pool.acquire(peer.endpoint)).rejects.toThrow("QMP pool is closed");
  });
});
