// The browser's realtime client (components/realtime/realtime-client.ts) against the real hub over a
// real HTTP server and PostgreSQL NOTIFY, with Node's built-in WebSocket: it follows topics, survives
// the connection being cut, reconnects, resubscribes every topic and tells followers to re-read.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { afterAll, beforeAll, expect, test, vi } from "vitest";
import { RealtimeClient, type RealtimeStatus } from "../../components/realtime/realtime-client";
import { logger } from "../../lib/logger";
import { RealtimeHub } from "../../lib/realtime/hub";
import { useTestDatabase } from "../support/db";

const database = useTestDatabase();
let hub: RealtimeHub;
let server: Server;
const sockets = new Set<Duplex>();
let url: string;

beforeAll(async () => {
  hub = new RealtimeHub(logger.child({ component: "realtime" }));
  await hub.start(database.current.url);
  server = createServer((_req, res) => res.writeHead(404).end());
  server.on("upgrade", (req, socket, head) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    hub.handleUpgrade(req, socket, head, { kind: "user", id: "test", name: "test", role: "viewer" });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/ws`;
});

afterAll(async () => {
  await hub?.close();
  await new Promise((resolve) => server?.close(resolve));
});

function statusReaches(client: RealtimeClient, status: RealtimeStatus): Promise<void> {
  return new Promise((resolve) => {
    if (client.status === status) return resolve();
    const off = client.onStatus(() => {
      if (client.status === status) {
        off();
        resolve();
      }
    });
  });
}

/**
 * Publishes the event until `received` holds something (publish is idempotent here, and a subscription
 * is in place only once an event makes it through).
 */
async function publishUntilReceived(event: Parameters<RealtimeHub["publish"]>[0], received: unknown[]): Promise<void> {
  await expect
    .poll(async () => {
      await hub.publish(event);
      return received.length;
    })
    .toBeGreaterThan(0);
}

test("follows topics, reconnects after the connection is cut, resubscribes and asks followers to re-read", async () => {
  const client = new RealtimeClient({ url, backoffMs: () => 0 });
  const fleet: unknown[] = [];
  const vm: unknown[] = [];
  let reconnects = 0;
  const vmTopic = "vm:11111111-2222-4333-8444-555555555555";
  client.follow("fleet", {
    handler: (name, payload) => fleet.push({ name, payload }),
    onReconnect: () => reconnects++,
  });
  const unfollowVm = client.follow(vmTopic, { handler: (_n, payload) => vm.push(payload) });
  // A follower that throws must not keep the others from their events (it is reported, not rethrown).
  const reported = vi.spyOn(console, "error").mockImplementation(() => {});
  client.follow("fleet", {
    handler: () => {
      throw new Error("broken follower");
    },
  });
  client.start();
  await statusReaches(client, "connected");

  await publishUntilReceived({ topic: "fleet", name: "ping", payload: { n: 1 } }, fleet);
  expect(fleet[0]).toEqual({ name: "ping", payload: { n: 1 } });
  await publishUntilReceived({ topic: vmTopic, name: "vm.state", payload: { state: "paused" } }, vm);

  // Cut every connection from the server side, as a restart or a network drop would.
  expect(sockets.size).toBe(1);
  const reconnecting = statusReaches(client, "reconnecting");
  for (const s of sockets) s.destroy();
  await reconnecting;
  await statusReaches(client, "connected");
  expect(reconnects).toBe(1);

  fleet.length = 0;
  vm.length = 0;
  await publishUntilReceived({ topic: "fleet", name: "after", payload: { n: 2 } }, fleet);
  expect(fleet[0]).toEqual({ name: "after", payload: { n: 2 } });
  await publishUntilReceived({ topic: vmTopic, name: "vm.state", payload: { state: "running" } }, vm);

  expect(reported).toHaveBeenCalledWith(
    "realtime handler failed",
    expect.objectContaining({ message: "broken follower" }),
  );
  reported.mockRestore();

  unfollowVm();
  client.stop();
  await expect.poll(() => hub.clientCount).toBe(0);
});
