// Guest-agent quiesce end to end (lib/snapshots/quiesce.ts): snapshots asked through the route handlers,
// run by the real worker against real QEMU guests (the guest kit), recorded in real PostgreSQL.
//   "qh": a guest agent channel that nothing in the guest reads (an agent that hangs) → the snapshot
//         completes crash-consistent saying so, its quiesce wait stays within the 2 s bound, the guest
//         keeps running;
//   "qa": Debian's real qemu-ga in the guest, an ext2 filesystem at /data →
//         application-consistent, the thaw happened (guest-fsfreeze-status "thawed" afterwards), the
//         freeze's duration recorded; then the same agent made slow to answer the freeze (its fsfreeze
//         hook sleeps 5 s, over the 2 s bound) → crash-consistent saying why, and the late freeze is
//         undone by the thaw queued behind it (status "thawed" again, without anyone else's help).
// The bound is set with SNAPFLEET_QUIESCE_TIMEOUT_MS, as an operator would.
import { mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PUT as quiesceRoute } from "../../app/api/vms/[id]/quiesce/route";
import { GET as getRoute } from "../../app/api/snapshots/[id]/route";
import { POST as createRoute } from "../../app/api/vms/[id]/snapshots/route";
import { db } from "../../lib/db/client";
import { readLaunchFacts } from "../../lib/fleet/launch-facts";
import { closeAllVmSessions, getVmSession } from "../../lib/fleet/sessions";
import { GuestAgentChannel } from "../../lib/guest-agent/channel";
import { startBoss, stopBoss } from "../../lib/jobs/boss";
import { logger } from "../../lib/logger";
import { listInternalSnapshotsOffline } from "../../lib/snapshots/internal-snapshots";
import type { SnapshotJson } from "../../lib/snapshots/snapshot-json";
import { startSnapshotWorker } from "../../lib/snapshots/worker";
import { guestPingOver } from "../../lib/restore/guest-agent";
import { useTestDatabase } from "../support/db";
import { startGuestKitVm } from "../support/guest-kit";
import { expectGuestAdvances } from "../support/guest-progress";
import { seedLocalHost } from "../support/local-host";
import { disposeAllVms, type TestVm } from "../support/qemu";
import { settledSnapshot } from "../support/snapshot-jobs";

const database = useTestDatabase();
const log = logger.child({ test: "quiesce" });

const BOUND_MS = 2_000;
let root: string;
let hung: TestVm;
let withAgent: TestVm;
const vmIds: Record<string, string> = {};
let stopWorker: () => Promise<void>;

beforeAll(async () => {
  process.env.SNAPFLEET_QUIESCE_TIMEOUT_MS = String(BOUND_MS);
  root = await mkdtemp(path.join(os.tmpdir(), "snapfleet-quiesce-"));
  [hung, withAgent] = await Promise.all([
    startGuestKitVm({ name: "qh", memoryMiB: 160, dirtyMiB: 8, agentSocket: path.join(root, "qh-qga.sock") }),
    startGuestKitVm({
      name: "qa",
      memoryMiB: 160,
      dirtyMiB: 8,
      disks: 2,
      agentSocket: path.join(root, "qa-qga.sock"),
      runAgent: true,
    }),
  ]);
  expect(withAgent.serialOutput()).toMatch(/^AGENT port=\/dev\/vport\S+ fs=\/dev\/vdb$/m);
  expect(withAgent.serialOutput()).not.toMatch(/^ERROR/m);
  const seeded = await seedLocalHost(root, [hung, withAgent]);
  for (const row of seeded.vms) {
    vmIds[row.name] = row.id;
    // What discovery records: the VM's command line, read from /proc behind its monitor socket.
    const launch = await readLaunchFacts(seeded.host, row.endpoint, await getVmSession(row.id));
    expect(launch.guestAgent, `${row.name} has its agent channel in its command line`).toBe(true);
    await db().vm.update({ where: { id: row.id }, data: { launch: launch as object } });
  }
  await startBoss(database.current.url, log);
  stopWorker = await startSnapshotWorker({ log, pollIntervalMs: 250, cancelPollMs: 200 });
}, 180_000);

afterAll(async () => {
  delete process.env.SNAPFLEET_QUIESCE_TIMEOUT_MS;
  await stopWorker?.();
  await stopBoss();
  await closeAllVmSessions();
  await disposeAllVms();
  if (root) await rm(root, { recursive: true, force: true });
});

async function snapshotNow(vmId: string, body: Record<string, unknown>): Promise<SnapshotJson> {
  const res = await createRoute(
    new Request(`http://t/api/vms/${vmId}/snapshots`, {
      method: "POST",
      body: JSON.stringify(body),
      headers: { "content-type": "application/json" },
    }),
    {
      params: Promise.resolve({ id: vmId }),
    },
  );
  expect(res.status).toBe(202);
  const { snapshot } = (await res.json()) as { snapshot: SnapshotJson };
  return settledSnapshot(snapshot.id);
}

/** The snapshot as GET /api/snapshots/{id} answers (what the page and the API show). */
async function snapshotJson(id: string): Promise<SnapshotJson> {
  const res = await getRoute(new Request(`http://t/api/snapshots/${id}`), { params: Promise.resolve({ id }) });
  expect(res.status).toBe(200);
  return (await res.json()) as SnapshotJson;
}

const connect = (socket: string) => () =>
  new Promise<net.Socket>((resolve, reject) => {
    const s = net.createConnection(socket);
    s.once("connect", () => resolve(s));
    s.once("error", reject);
  });

/** A test's own conversation with the guest's agent (the snapshot's channel is closed by then). */
async function withAgentChannel<T>(socket: string, fn: (c: GuestAgentChannel) => Promise<T>): Promise<T> {
  const c = await GuestAgentChannel.open(connect(socket), 5_000);
  try {
    await c.sync(10_000);
    return await fn(c);
  } finally {
    c.close();
  }
}

/** Writes a file in the guest through its agent (guest-file-open/write/close). */
async function writeGuestFile(socket: string, file: string, content: string): Promise<void> {
  await withAgentChannel(socket, async (c) => {
    const handle = await c.execute<number>("guest-file-open", { path: file, mode: "w" }, 10_000);
    await c.execute("guest-file-write", { handle, "buf-b64": Buffer.from(content).toString("base64") }, 10_000);
    await c.execute("guest-file-close", { handle }, 10_000);
  });
}

const freezeStatus = (socket: string) =>
  withAgentChannel(socket, (c) => c.execute<string>("guest-fsfreeze-status", undefined, 10_000));

describe("quiesce with a guest agent that never answers", () => {
  it("completes crash-consistent with the reason, waits no longer than the bound, and the guest keeps running", async () => {
    const s = await snapshotNow(vmIds.qh!, { mode: "disks-only", quiesce: true });
    expect(s.status, s.error?.message).toBe("completed");
    const row = await snapshotJson(s.id);
    expect(row.quiesce).toBe(true);
    expect(row.consistency).toBe("crash");
    expect(row.quiesceNote).toBe("the guest agent did not answer guest-sync-delimited within 2 s; nothing was frozen");
    // totalMs runs from before the quiesce step to the end of the disks-only snapshot.
    expect(row.totalMs).toBeGreaterThanOrEqual(BOUND_MS - 50);
    expect(row.totalMs).toBeLessThan(BOUND_MS + 1_500);
    const images = await listInternalSnapshotsOffline(hung.disks[0]!.path);
    expect(images.map((i) => i.name)).toContain(row.files.find((f) => f.role === "disk")!.internalSnapshot);
    await expectGuestAdvances(hung);
  });

  it("verify's guest-ping over the same channel code says the agent did not answer", async () => {
    expect(await guestPingOver(connect(path.join(root, "qh-qga.sock")), 1_000)).toEqual({
      ok: false,
      error: "the guest agent did not answer guest-sync-delimited within 1 s",
    });
  });
});

describe("quiesce with Debian's qemu-ga in the guest", () => {
  const socket = () => path.join(root, "qa-qga.sock");

  it("the VM's setting (PUT /api/vms/{id}/quiesce) makes a disks-only snapshot application-consistent and thaws right after", async () => {
    const put = await quiesceRoute(
      new Request(`http://t/api/vms/${vmIds.qa}/quiesce`, { method: "PUT", body: JSON.stringify({ quiesce: true }) }),
      {
        params: Promise.resolve({ id: vmIds.qa! }),
      },
    );
    expect(put.status).toBe(200);
    expect(((await put.json()) as { vm: { quiesce: boolean } }).vm.quiesce).toBe(true);

    const s = await snapshotNow(vmIds.qa!, { mode: "disks-only" });
    expect(s.status, s.error?.message).toBe("completed");
    const row = await snapshotJson(s.id);
    expect(row.quiesce).toBe(true);
    expect(row.consistency, row.quiesceNote ?? "no note").toBe("application");
    const frozen = /^froze 1 filesystem for (\d+) ms \(freeze sent → thaw answered\)$/.exec(row.quiesceNote ?? "");
    expect(frozen, row.quiesceNote ?? "no note").not.toBeNull();
    expect(Number(frozen![1])).toBeLessThan(BOUND_MS);
    expect(row.statusHistory.at(-1)!.detail).toContain("application-consistent");
    expect(await freezeStatus(socket())).toBe("thawed");
    await expectGuestAdvances(withAgent);
  });

  it("verify's guest-ping over the same channel code gets the agent's answer", async () => {
    expect(await guestPingOver(connect(socket()), 10_000)).toEqual({ ok: true });
  });

  it("an agent slower than the bound: crash-consistent saying why, and the late freeze is thawed by the thaw queued behind it", async () => {
    await writeGuestFile(socket(), "/tmp/slow-freeze", "5");
    try {
      const askedAt = Date.now();
      const s = await snapshotNow(vmIds.qa!, { mode: "disks-only", quiesce: true });
      expect(s.status, s.error?.message).toBe("completed");
      const row = await snapshotJson(s.id);
      expect(row.consistency).toBe("crash");
      expect(row.quiesceNote).toMatch(
        /^the guest agent did not answer guest-fsfreeze-freeze within 2 s; thaw sent at once, snapshot taken crash-consistent; /,
      );
      // The snapshot did not wait for the late freeze (5 s): its quiesce wait ended at the bound.
      expect(row.totalMs).toBeLessThan(BOUND_MS + 1_500);
      // The agent runs commands in order: our status question is answered only after the late freeze
      // (≥ 5 s after it was asked) and the thaw queued behind it — and then nothing is frozen.
      expect(await freezeStatus(socket())).toBe("thawed");
      expect(Date.now() - askedAt).toBeGreaterThanOrEqual(5_000);
    } finally {
      await writeGuestFile(socket(), "/tmp/slow-freeze", "0");
    }
    await expectGuestAdvances(withAgent);
  });
});
