// Live state end to end below the browser: a real QEMU VM under a local host, Snapfleet's session on
// its discoverable monitor, the realtime hub on a real HTTP server (PostgreSQL NOTIFY in between), and a
// real WebSocket client subscribed to vm:<id>. The VM is acted on from OUTSIDE through its second
// monitor; the hub event must reach the client within 200 ms of QEMU's event timestamp.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, expect, test } from "vitest";
import WebSocket from "ws";
import { discoverHost } from "../../lib/fleet/discovery";
import { createHost } from "../../lib/fleet/hosts";
import { closeAllVmSessions } from "../../lib/fleet/sessions";
import { vmJsonSchema, type VmJson } from "../../lib/fleet/vm-json";
import { logger } from "../../lib/logger";
import { connectQmp, type QmpClient, type QmpEvent } from "../../lib/qmp";
import { RealtimeHub, setHub } from "../../lib/realtime/hub";
import { serverMessageSchema } from "../../lib/realtime/messages";
import { useTestDatabase } from "../support/db";
import { disposeAllVms } from "../support/qemu";
import { makeSocketDir, startFleetVm, type FleetVm, type SocketDir } from "../fleet/support";

const database = useTestDatabase();
let hub: RealtimeHub;
let server: Server;
let sockets: SocketDir;
let vm: FleetVm;
let vmId: string;
let outside: QmpClient;
let ws: WebSocket;
const received: Array<{ at: number; name: string; vm: VmJson }> = [];
const waiters = new Set<() => void>();

/** Wall-clock milliseconds with sub-millisecond precision (QEMU stamps events with the wall clock). */
const nowMs = () => performance.timeOrigin + performance.now();

beforeAll(async () => {
  hub = new RealtimeHub(logger.child({ component: "realtime" }));
  await hub.start(database.current.url);
  setHub(hub);
  server = createServer((_req, res) => res.writeHead(404).end());
  server.on("upgrade", (req, socket, head) =>
    hub.handleUpgrade(req, socket, head, { kind: "user", id: "test", name: "test", role: "viewer" }),
  );
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));

  sockets = await makeSocketDir();
  vm = await startFleetVm(sockets.dir, "live");
  const saved = await createHost({
    kind: "local",
    name: "hv-live",
    socketDir: sockets.dir,
    snapshotDir: sockets.snapshotDir,
  });
  expect(saved.discovery?.added).toBe(1);
  vmId = (await database.current.prisma.vm.findFirstOrThrow({ where: { hostId: saved.host.id } })).id;

  ws = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}/ws`);
  ws.on("message", (raw) => {
    const at = nowMs();
    const frame = serverMessageSchema.parse(JSON.parse(String(raw)));
    if (frame.type === "event") received.push({ at, name: frame.name, vm: vmJsonSchema.parse(frame.payload) });
    for (const w of waiters) w();
  });
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", reject);
  });
  const subscribed = new Promise<void>((resolve) => ws.once("message", () => resolve()));
  ws.send(JSON.stringify({ type: "subscribe", topics: [`vm:${vmId}`] }));
  await subscribed;

  // The VM's second monitor: "outside" Snapfleet, like an operator's virsh or socat.
  outside = await connectQmp({ kind: "unix", path: vm.qmpSocket });
});

afterAll(async () => {
  ws?.close();
  await outside?.close();
  await closeAllVmSessions();
  await hub?.close();
  await new Promise((resolve) => server?.close(resolve));
  await disposeAllVms();
  await sockets?.cleanup();
});

function nextEvent(predicate: (vm: VmJson) => boolean, timeoutMs = 5_000): Promise<{ at: number; vm: VmJson }> {
  return new Promise((resolve, reject) => {
    const check = () => {
      const hit = received.find((r) => r.name === "vm.state" && predicate(r.vm));
      if (!hit) return;
      received.splice(received.indexOf(hit), 1);
      waiters.delete(check);
      clearTimeout(timer);
      resolve(hit);
    };
    const timer = setTimeout(() => {
      waiters.delete(check);
      reject(
        new Error(
          `no matching vm.state event within ${timeoutMs} ms; got ${JSON.stringify(received.map((r) => r.vm.state))}`,
        ),
      );
    }, timeoutMs);
    waiters.add(check);
    check();
  });
}

async function act(command: "stop" | "cont", event: "STOP" | "RESUME", state: VmJson["state"]) {
  received.length = 0;
  const qemuEvent: Promise<QmpEvent> = outside.waitForEvent(event, { timeoutMs: 5_000 });
  const published = nextEvent((v) => v.state === state);
  await outside.execute(command);
  const [ev, hit] = await Promise.all([qemuEvent, published]);
  return { latencyMs: hit.at - ev.timeUs / 1000, vm: hit.vm };
}

// The latency (target: 200 ms from QEMU's event) is printed here and measured as p50/p95/p99 by
// `npm run bench`; the test asserts that every change arrives, in order, with the right VM state.
test("stop and cont from outside reach a subscribed WebSocket after QEMU's event", async () => {
  const latencies: number[] = [];
  for (let i = 0; i < 3; i++) {
    const stopped = await act("stop", "STOP", "paused");
    expect(stopped.vm).toMatchObject({ id: vmId, name: "live", state: "paused", stateReason: null });
    const resumed = await act("cont", "RESUME", "running");
    expect(resumed.vm.state).toBe("running");
    latencies.push(stopped.latencyMs, resumed.latencyMs);
  }
  console.log(
    `state-change latency, QMP event → WebSocket frame (ms): ${latencies.map((l) => l.toFixed(1)).join(", ")}`,
  );
  for (const l of latencies) expect(l).toBeGreaterThanOrEqual(0);
  const row = await database.current.prisma.vm.findUniqueOrThrow({ where: { id: vmId } });
  expect(row.state).toBe("running");
});

test("a discovery that changes many VMs sends Fleet tabs one refresh, and each VM its own event", async () => {
  const prisma = database.current.prisma;
  const host = await prisma.vm.findUniqueOrThrow({ where: { id: vmId }, select: { hostId: true } });
  await prisma.vm.createMany({
    data: Array.from({ length: 30 }, (_, i) => ({
      hostId: host.hostId,
      endpoint: `${sockets.dir}/vanished-${i}.sock`,
      name: `vanished-${i}`,
      state: "running" as const,
    })),
  });
  const fleetWs = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}/ws`);
  const fleetFrames: Array<{ name: string; payload: unknown }> = [];
  await new Promise<void>((resolve) => fleetWs.once("open", () => resolve()));
  const subscribed = new Promise<void>((resolve) => fleetWs.once("message", () => resolve()));
  fleetWs.send(JSON.stringify({ type: "subscribe", topics: ["fleet"] }));
  await subscribed;
  const refreshed = new Promise<void>((resolve) =>
    fleetWs.on("message", (raw) => {
      const frame = serverMessageSchema.parse(JSON.parse(String(raw)));
      if (frame.type !== "event") return;
      fleetFrames.push({ name: frame.name, payload: frame.payload });
      if (frame.name === "fleet.refresh") resolve();
    }),
  );
  const result = await discoverHost(host.hostId);
  expect(result.gone).toBe(30);
  await refreshed;
  fleetWs.close();
  expect(fleetFrames.find((f) => f.name === "fleet.refresh")?.payload).toEqual({ hostId: host.hostId, changed: 30 });
  expect(fleetFrames.filter((f) => f.name === "vm.state")).toEqual([]);
  const gone = await prisma.vm.findMany({ where: { name: { startsWith: "vanished-" } }, select: { state: true } });
  expect(gone.every((v) => v.state === "gone")).toBe(true);
});

test("quit from outside ends as shutdown with QEMU's reason, not as a lost monitor", async () => {
  received.length = 0;
  const shutdown = nextEvent(
    (v) => v.state === "shutdown" && v.stateReason === "QEMU exited after shutdown (host-qmp-quit)",
  );
  await outside.execute("quit").catch(() => {}); // QEMU may close before replying
  expect((await shutdown).vm.id).toBe(vmId);
  expect((await database.current.prisma.vm.findUniqueOrThrow({ where: { id: vmId } })).state).toBe("shutdown");
});
