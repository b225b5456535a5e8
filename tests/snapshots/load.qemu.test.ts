// Load: 20 VMs snapshotted at once under the host/fleet admission limits while 50 WebSocket clients follow
// the fleet topic, three rounds: every client sees every snapshot's final state, every snapshot completes,
// and the server's memory (this process: hub, worker, queue, database pool) is flat across the rounds.
// Real QEMU (OS-less 32 MiB guests, one small qcow2 disk each), real PostgreSQL, real WebSocket clients
// over a real HTTP server. Prints the memory figures per round.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { afterAll, beforeAll, expect, it } from "vitest";
import { db } from "../../lib/db/client";
import { closeAllVmSessions } from "../../lib/fleet/sessions";
import { startBoss, stopBoss } from "../../lib/jobs/boss";
import { logger } from "../../lib/logger";
import { RealtimeHub, setHub } from "../../lib/realtime/hub";
import { createSnapshotJob } from "../../lib/snapshots/jobs";
import { startSnapshotWorker } from "../../lib/snapshots/worker";
import { useTestDatabase } from "../support/db";
import { disposeAllVms, startVms, type TestVm } from "../support/qemu";
import { until } from "../support/wait";
import { seedLocalHost } from "../support/local-host";

const database = useTestDatabase();
const log = logger.child({ test: "load" });

const VMS = 20;
const CLIENTS = 50;
const ROUNDS = 3;

let root: string;
let vms: TestVm[];
const vmIds: string[] = [];
let hub: RealtimeHub;
let server: Server;
let url: string;
let stopWorker: () => Promise<void>;

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), "snapfleet-load-"));
  vms = await startVms(VMS, { name: "ld", memoryMiB: 32, disks: [{ sizeMiB: 16 }] });
  vmIds.push(...(await seedLocalHost(root, vms)).vms.map((v) => v.id));
  hub = new RealtimeHub(log);
  await hub.start(database.current.url);
  setHub(hub);
  server = createServer((_req, res) => res.writeHead(404).end());
  // 50 people watching the fleet page (the hub caps connections per user, not per process here).
  let n = 0;
  server.on("upgrade", (req, socket, head) => {
    n++;
    hub.handleUpgrade(req, socket, head, { kind: "user", id: `viewer-${n}`, name: `viewer-${n}`, role: "viewer" });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/ws`;
  await startBoss(database.current.url, log);
  stopWorker = await startSnapshotWorker({ log, pollIntervalMs: 250 });
}, 180_000);

afterAll(async () => {
  await stopWorker?.();
  await stopBoss();
  await closeAllVmSessions();
  await hub?.close();
  setHub(undefined);
  await new Promise((resolve) => server?.close(resolve));
  await disposeAllVms();
  await rm(root, { recursive: true, force: true });
});

interface Client {
  /** snapshot id → final status seen */
  finals: Map<string, string>;
  close(): void;
}

async function connect(): Promise<Client> {
  const ws = new WebSocket(url);
  const finals = new Map<string, string>();
  let subscribed = false;
  ws.addEventListener("message", (ev) => {
    const frame = JSON.parse(String(ev.data)) as {
      type: string;
      name?: string;
      payload?: { id?: string; status?: string };
    };
    if (frame.type === "subscribed") subscribed = true;
    const s = frame.payload;
    if (
      frame.type === "event" &&
      frame.name === "snapshot.updated" &&
      s?.id &&
      ["completed", "failed", "cancelled"].includes(s.status ?? "")
    )
      finals.set(s.id, s.status!);
  });
  await new Promise<void>((resolve, reject) => {
    ws.addEventListener("open", () => resolve(), { once: true });
    ws.addEventListener("error", () => reject(new Error("WebSocket did not open")), { once: true });
  });
  ws.send(JSON.stringify({ type: "subscribe", topics: ["fleet"] }));
  await until(() => (subscribed ? true : undefined), "the hub to confirm the subscription");
  return { finals, close: () => ws.close() };
}

function heapAfterGc(): { heapMiB: number; rssMiB: number } {
  setFlagsFromString("--expose-gc");
  (runInNewContext("gc") as () => void)();
  const m = process.memoryUsage();
  return { heapMiB: m.heapUsed / 2 ** 20, rssMiB: m.rss / 2 ** 20 };
}

it(`${VMS} VMs × ${ROUNDS} rounds with ${CLIENTS} WebSocket clients: every client sees every final state, memory stays flat`, async () => {
  const clients = await Promise.all(Array.from({ length: CLIENTS }, connect));
  const memory: Array<{ heapMiB: number; rssMiB: number; seconds: number }> = [];
  try {
    for (let round = 1; round <= ROUNDS; round++) {
      const started = performance.now();
      const ids = await Promise.all(vmIds.map(async (vmId) => (await createSnapshotJob({ vmId, mode: "live" })).id));
      await until(
        () => (clients.every((c) => ids.every((id) => c.finals.has(id))) ? true : undefined),
        `round ${round}: every client to see all ${VMS} final states`,
        240_000,
      );
      const rows = await db().snapshot.findMany({
        where: { id: { in: ids } },
        select: { status: true, errorMessage: true },
      });
      expect(rows.filter((r) => r.status !== "completed").map((r) => r.errorMessage)).toEqual([]);
      for (const c of clients) expect(ids.map((id) => c.finals.get(id))).toEqual(ids.map(() => "completed"));
      memory.push({ ...heapAfterGc(), seconds: (performance.now() - started) / 1000 });
    }
  } finally {
    for (const c of clients) c.close();
  }
  console.log(
    `load: ${VMS} VMs, ${CLIENTS} WebSocket clients; per round: ` +
      memory
        .map(
          (m, i) =>
            `round ${i + 1} ${m.seconds.toFixed(1)} s, heap ${m.heapMiB.toFixed(1)} MiB, RSS ${m.rssMiB.toFixed(0)} MiB`,
        )
        .join("; "),
  );
  // Flat: the third round leaves no more live heap than the first plus slack for caches warming up.
  expect(memory[2]!.heapMiB - memory[0]!.heapMiB).toBeLessThan(16);
}, 900_000);
