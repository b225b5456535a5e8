// Snapshot jobs end to end below the browser: the route handlers, the one-job-per-VM rule, the
// pg-boss queue and worker, status history, realtime publishing, cancel, delete (crash-safe journal), and
// the failure cases of the issue — each against real PostgreSQL and real QEMU guests (the guest kit),
// each proving the guest keeps running and making progress afterwards (its serial ticks advance),
// that no partial file is left, and that the job says why.
//   VM "ja" serves every case; VM "jb" is the one whose QEMU gets killed mid-snapshot.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, statfsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { POST as cancelRoute } from "../../app/api/snapshots/[id]/cancel/route";
import { DELETE as deleteRoute, GET as getRoute } from "../../app/api/snapshots/[id]/route";
import { GET as listRoute } from "../../app/api/snapshots/route";
import { POST as createRoute } from "../../app/api/vms/[id]/snapshots/route";
import { db } from "../../lib/db/client";
import { closeAllVmSessions, getVmSession } from "../../lib/fleet/sessions";
import { startBoss, stopBoss } from "../../lib/jobs/boss";
import { logger } from "../../lib/logger";
import { RealtimeHub, setHub } from "../../lib/realtime/hub";
import { vmDirName } from "../../lib/snapshots/jobs";
import { listInternalSnapshotsOffline } from "../../lib/snapshots/internal-snapshots";
import { recoverInterruptedSnapshots } from "../../lib/snapshots/recovery";
import type { SnapshotJson } from "../../lib/snapshots/snapshot-json";
import type { SnapshotStatusName } from "../../lib/snapshots/state-machine";
import { recoverLostQueuedSnapshots, startSnapshotWorker } from "../../lib/snapshots/worker";
import { startGuestKitVm } from "../support/guest-kit";
import { expectGuestAdvances } from "../support/guest-progress";
import { useTestDatabase } from "../support/db";
import { disposeAllVms, type TestVm } from "../support/qemu";
import { seedLocalHost } from "../support/local-host";

const database = useTestDatabase();
const log = logger.child({ test: "snapshot-jobs" });

let root: string;
let vmA: TestVm;
let vmB: TestVm;
let hostId: string;
let vmAId: string;
let vmBId: string;
let stopWorker: () => Promise<void>;
let hub: RealtimeHub;
let listener: pg.Client;
const published: Array<{ topic: string; name: string; payload: SnapshotJson }> = [];
/** What the worker does after a status change is persisted; each test sets it. */
let afterStatus: (status: SnapshotStatusName, id: string) => void | Promise<void> = () => {};
const mounts: string[] = [];

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), "snapfleet-jobs-"));
  [vmA, vmB] = await Promise.all([
    startGuestKitVm({ name: "ja", memoryMiB: 160, dirtyMiB: 16 }),
    startGuestKitVm({ name: "jb", memoryMiB: 160, dirtyMiB: 16 }),
  ]);
  const seeded = await seedLocalHost(root, [vmA, vmB]);
  hostId = seeded.host.id;
  [vmAId, vmBId] = seeded.vms.map((v) => v.id) as [string, string];

  const url = database.current.url;
  hub = new RealtimeHub(log);
  await hub.start(url);
  setHub(hub);
  listener = new pg.Client({ connectionString: url });
  await listener.connect();
  listener.on("notification", (m) => published.push(JSON.parse(m.payload!)));
  await listener.query("LISTEN snapfleet_events");

  await startBoss(url, log);
  stopWorker = await startSnapshotWorker({
    log,
    pollIntervalMs: 250,
    cancelPollMs: 200,
    afterStatus: (s, id) => afterStatus(s, id),
  });
});

afterAll(async () => {
  await stopWorker?.();
  await stopBoss();
  await closeAllVmSessions();
  await listener?.end();
  await hub?.close();
  setHub(undefined as unknown as RealtimeHub);
  await disposeAllVms();
  for (const m of mounts) execFileSync("umount", ["-l", m]);
  await rm(root, { recursive: true, force: true });
});

const ctx = (id: string) => ({ params: Promise.resolve({ id }) });
const req = (url: string, init?: RequestInit) => new Request(`http://test${url}`, init);

async function create(vmId: string, body: unknown = { mode: "live" }): Promise<Response> {
  return createRoute(req(`/api/vms/${vmId}/snapshots`, { method: "POST", body: JSON.stringify(body) }), ctx(vmId));
}

async function get(id: string): Promise<SnapshotJson> {
  return (await getRoute(req(`/api/snapshots/${id}`), ctx(id))).json();
}

/** Polls the REST answer until the job ends (the worker runs it in the background). */
async function settled(id: string, timeoutMs = 90_000): Promise<SnapshotJson> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await get(id);
    if (["completed", "failed", "cancelled"].includes(s.status)) return s;
    if (Date.now() > deadline) throw new Error(`snapshot ${id} still ${s.status} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Where a VM's snapshot lives under the test host's snapshot directory. */
function snapshotDir(vm: { id: string; name: string }, snapshotId: string): string {
  return path.join(root, "snaps", vmDirName(vm), snapshotId);
}

/** Internal snapshots of a VM's disk image, as its QEMU sees them. */
async function internalSnapshots(vmId: string): Promise<string[]> {
  const blocks = await (await getVmSession(vmId)).queryBlock();
  return (blocks.find((b) => b.inserted && !b.inserted.ro)!.inserted!.image.snapshots ?? []).map((x) => x.name);
}

async function activeFile(vmId: string): Promise<string> {
  const blocks = await (await getVmSession(vmId)).queryBlock();
  return blocks.find((b) => b.inserted && !b.inserted.ro)!.inserted!.image.filename;
}

function mountTmpfs(name: string, options: string): string {
  const dir = path.join(root, name);
  mkdirSync(dir);
  execFileSync("mount", ["-t", "tmpfs", "-o", options, "tmpfs", dir]);
  mounts.push(dir);
  return dir;
}

async function useSnapshotDir(dir: string): Promise<void> {
  await db().host.update({ where: { id: hostId }, data: { snapshotDir: dir } });
}

describe("Snapshot now through the API and the worker", () => {
  let completed: SnapshotJson;

  it("POST answers 202 with the queued job; the worker takes it to completed; every step is recorded and published", async () => {
    // While it streams, the row says what a crash would leave to undo on the VM (crash-undo.ts).
    let undoWhileActive: unknown = "not read";
    afterStatus = async (status, id) => {
      if (status === "active") undoWhileActive = (await db().snapshot.findUniqueOrThrow({ where: { id } })).undoOnCrash;
    };
    const res = await create(vmAId, { mode: "live", note: "before upgrade" });
    expect(res.status).toBe(202);
    const { snapshot } = (await res.json()) as { snapshot: SnapshotJson };
    expect(snapshot).toMatchObject({
      vmId: vmAId,
      vmName: "ja",
      hostId,
      mode: "live",
      status: "queued",
      note: "before upgrade",
      files: [],
      error: null,
    });
    expect(snapshot.statusHistory.map((h) => h.status)).toEqual(["queued"]);

    completed = await settled(snapshot.id);
    afterStatus = () => {};
    expect(undoWhileActive).toMatchObject({
      capabilities: [
        { capability: "background-snapshot", state: false },
        { capability: "events", state: false },
      ],
    });
    expect((await db().snapshot.findUniqueOrThrow({ where: { id: snapshot.id } })).undoOnCrash).toBeNull();
    expect(completed.error).toBeNull();
    expect(completed.status).toBe("completed");
    expect(completed.statusHistory.map((h) => h.status)).toEqual([
      "queued",
      "preflight",
      "setup",
      "active",
      "completed",
    ]);
    expect(completed.guestPauseMs).toBeGreaterThan(0);
    expect(completed.throughputBytesPerSec).toBeGreaterThan(0);
    expect(completed.ramTotalBytes).toBeGreaterThan(0);
    expect(completed.sizeBytes).toBeGreaterThan(0);
    expect(completed.progress).toBe(1);
    expect(completed.startedAt && completed.finishedAt).toBeTruthy();
    const vmstate = completed.files.find((f) => f.role === "vmstate")!;
    expect(vmstate.path).toBe(path.join(snapshotDir({ id: vmAId, name: "ja" }, snapshot.id), "vmstate.bin"));
    expect(existsSync(vmstate.path)).toBe(true);
    expect(completed.files.find((f) => f.role === "disk")).toMatchObject({
      path: vmA.disks[0].path,
      internalSnapshot: `snapfleet-${snapshot.id}`,
    });

    // The REST answer can show "completed" before its NOTIFYs (one per topic) have reached the listener.
    const onTopic = (topic: string) =>
      published.filter((p) => p.topic === topic && p.name === "snapshot.updated" && p.payload.id === snapshot.id);
    await vi.waitFor(
      () => {
        expect(onTopic(`snapshot:${snapshot.id}`).at(-1)?.payload.status).toBe("completed");
        expect(onTopic(`vm:${vmAId}`).at(-1)?.payload.status).toBe("completed");
      },
      { timeout: 5000, interval: 50 },
    );
    const onSnapshot = onTopic(`snapshot:${snapshot.id}`);
    // "queued" is published by the request after its commit, so the worker's "preflight" may overtake
    // it (the UI keeps the update with the longer history); the worker's own publishes are in order.
    const seen = [...new Set(onSnapshot.map((p) => p.payload.status))];
    expect(seen).toContain("queued");
    expect(seen.filter((st) => st !== "queued")).toEqual(["preflight", "setup", "active", "completed"]);
    await expectGuestAdvances(vmA);
  });

  it("a second request while one runs gets 409 with the running job's id", async () => {
    let firstId = "";
    let second: Response | undefined;
    afterStatus = async (status, id) => {
      if (status === "setup" && !second) {
        firstId = id;
        second = await create(vmAId, { mode: "ram-only" });
      }
    };
    const first = (await (await create(vmAId, { mode: "ram-only" })).json()).snapshot as SnapshotJson;
    const done = await settled(first.id);
    afterStatus = () => {};
    expect(firstId).toBe(first.id);
    expect(second!.status).toBe(409);
    const body = await second!.json();
    expect(body.error).toMatch(/already has a snapshot in progress/);
    expect(body.details.snapshotId).toBe(first.id);
    expect(done.status).toBe("completed");
    await expectGuestAdvances(vmA);
  });

  it("answers 4xx with messages for bad input", async () => {
    const bad = await create(vmAId, { mode: "hot" });
    expect(bad.status).toBe(400);
    expect((await bad.json()).error).toMatch(/mode must be/);
    expect((await create("not-a-uuid")).status).toBe(404);
    expect((await create("00000000-0000-4000-8000-000000000000")).status).toBe(404);
    const notJson = await createRoute(req(`/api/vms/${vmAId}/snapshots`, { method: "POST", body: "{" }), ctx(vmAId));
    expect(notJson.status).toBe(400);
    expect((await getRoute(req("/api/snapshots/x"), ctx("x"))).status).toBe(404);
    const cancelDone = await cancelRoute(
      req(`/api/snapshots/${completed.id}/cancel`, { method: "POST" }),
      ctx(completed.id),
    );
    expect(cancelDone.status).toBe(409);
    expect((await cancelDone.json()).error).toMatch(/already completed/);
  });

  it("lists newest first with keyset pagination and filters", async () => {
    const all = await listRoute(req(`/api/snapshots?vmId=${vmAId}`));
    const { snapshots } = (await all.json()) as { snapshots: SnapshotJson[] };
    expect(snapshots.length).toBeGreaterThanOrEqual(2);
    const pages: string[] = [];
    let cursor: string | null = null;
    do {
      const res: Response = await listRoute(
        req(`/api/snapshots?vmId=${vmAId}&limit=1${cursor ? `&cursor=${cursor}` : ""}`),
      );
      const body = (await res.json()) as { snapshots: SnapshotJson[]; nextCursor: string | null };
      pages.push(...body.snapshots.map((s) => s.id));
      cursor = body.nextCursor;
    } while (cursor);
    expect(pages).toEqual(snapshots.map((s) => s.id));
    const onlyFailed = (await (await listRoute(req(`/api/snapshots?status=failed&hostId=${hostId}`))).json()) as {
      snapshots: SnapshotJson[];
    };
    expect(onlyFailed.snapshots.every((s) => s.status === "failed")).toBe(true);
    expect((await listRoute(req("/api/snapshots?cursor=garbage"))).status).toBe(422);
    expect((await listRoute(req("/api/snapshots?limit=0"))).status).toBe(400);
    expect((await listRoute(req("/api/snapshots?status=done"))).status).toBe(400);
  });

  it("DELETE refuses a running snapshot, then removes exactly what each snapshot created; a second DELETE is harmless", async () => {
    let running: Response | undefined;
    afterStatus = async (status, id) => {
      if (status === "setup" && !running)
        running = await deleteRoute(req(`/api/snapshots/${id}`, { method: "DELETE" }), ctx(id));
    };
    const s = (await (await create(vmAId, { mode: "disks-only" })).json()).snapshot as SnapshotJson;
    const disks = await settled(s.id);
    afterStatus = () => {};
    expect(disks.status).toBe("completed");
    expect(running!.status).toBe(409);
    expect((await running!.json()).error).toMatch(/cancel it first/);
    // Both snapshots live inside the VM's own image; it never stopped being the active disk.
    expect(await activeFile(vmAId)).toBe(vmA.disks[0].path);
    const [liveName, disksName] = [completed, disks].map(
      (x) => x.files.find((f) => f.role === "disk")!.internalSnapshot!,
    );
    expect(await internalSnapshots(vmAId)).toEqual(expect.arrayContaining([liveName, disksName]));

    const del1 = await deleteRoute(req(`/api/snapshots/${completed.id}`, { method: "DELETE" }), ctx(completed.id));
    expect(del1.status).toBe(200);
    const gone = ((await del1.json()) as { snapshot: SnapshotJson }).snapshot;
    expect(gone.deletedAt).not.toBeNull();
    expect(gone.deletion!.steps.map((x) => x.state)).toEqual(gone.deletion!.steps.map(() => "done"));
    expect(existsSync(completed.files.find((f) => f.role === "vmstate")!.path)).toBe(false);
    expect(existsSync(snapshotDir({ id: vmAId, name: "ja" }, completed.id))).toBe(false);
    expect(await internalSnapshots(vmAId)).not.toContain(liveName);
    expect(await internalSnapshots(vmAId)).toContain(disksName);

    const del2 = await deleteRoute(req(`/api/snapshots/${disks.id}`, { method: "DELETE" }), ctx(disks.id));
    expect(del2.status).toBe(200);
    expect(await internalSnapshots(vmAId)).not.toContain(disksName);
    expect(await activeFile(vmAId)).toBe(vmA.disks[0].path);
    const again = await deleteRoute(req(`/api/snapshots/${disks.id}`, { method: "DELETE" }), ctx(disks.id));
    expect(again.status).toBe(200);
    expect(((await again.json()) as { snapshot: SnapshotJson }).snapshot.deletedAt).toBe(
      ((await del2.json()) as { snapshot: SnapshotJson }).snapshot.deletedAt,
    );
    const listed = (await (await listRoute(req(`/api/snapshots?vmId=${vmAId}`))).json()) as {
      snapshots: SnapshotJson[];
    };
    expect(listed.snapshots.map((x) => x.id)).not.toContain(disks.id);
    await expectGuestAdvances(vmA);
  });
});

describe("failures leave the guest running and making progress, no partial file, the reason on the job", () => {
  it("target not writable: refused in preflight, VM untouched", async () => {
    await useSnapshotDir(mountTmpfs("ro", "ro,size=1m"));
    const s = (await (await create(vmAId)).json()).snapshot as SnapshotJson;
    const r = await settled(s.id);
    expect(r.status).toBe("failed");
    expect(r.statusHistory.map((h) => h.status)).toEqual(["queued", "preflight", "failed"]);
    expect(r.error).toMatchObject({ class: "refused" });
    expect(r.error!.message).toMatch(/not writable: is on a read-only filesystem/);
    expect(await activeFile(vmAId)).toBe(vmA.disks[0].path);
    await expectGuestAdvances(vmA);
  });

  it("disk full mid-write: the sink drains QEMU, the job fails with ENOSPC, the disk state taken is deleted again", async () => {
    const dir = mountTmpfs("full", "size=256m");
    await useSnapshotDir(dir);
    afterStatus = (status) => {
      // After preflight passed: something else fills the disk, leaving 8 MiB (RAM does not fit).
      if (status !== "setup") return;
      const s = statfsSync(dir);
      execFileSync("fallocate", ["-l", String(s.bavail * s.bsize - 8 * 1024 * 1024), path.join(dir, "ballast")]);
    };
    const s = (await (await create(vmAId)).json()).snapshot as SnapshotJson;
    const r = await settled(s.id);
    afterStatus = () => {};
    expect(r.status).toBe("failed");
    expect(r.error).toMatchObject({ class: "target-write" });
    // It stopped short of the last 8 MiB: room kept for the guest's disk writes.
    expect(r.error!.message).toMatch(
      /the disk is full: only [0-9.]+ MiB left on the file system, and 64\.0 MiB of it is kept for the VM's disk writes/,
    );
    expect(r.files).toEqual([]);
    expect(readdirSync(dir)).toEqual(["ballast"]); // no vmstate, no directory left
    expect(await activeFile(vmAId)).toBe(vmA.disks[0].path);
    expect(await internalSnapshots(vmAId)).not.toContain(`snapfleet-${s.id}`); // the disk state taken was deleted again
    expect((await (await getVmSession(vmAId)).queryStatus()).status).toBe("running");
    await expectGuestAdvances(vmA);
  });

  it("cancel mid-snapshot: QEMU finishes into the void, files removed, job cancelled", async () => {
    await useSnapshotDir(path.join(root, "snaps"));
    let cancelled: Response | undefined;
    afterStatus = async (status, id) => {
      if (status === "active" && !cancelled)
        cancelled = await cancelRoute(req(`/api/snapshots/${id}/cancel`, { method: "POST" }), ctx(id));
    };
    const s = (await (await create(vmAId)).json()).snapshot as SnapshotJson;
    const r = await settled(s.id);
    afterStatus = () => {};
    expect(cancelled!.status).toBe(202);
    expect((await cancelled!.json()).snapshot.cancelRequested).toBe(true);
    expect(r.status).toBe("cancelled");
    expect(r.statusHistory.map((h) => h.status)).toEqual(["queued", "preflight", "setup", "active", "cancelled"]);
    expect(existsSync(snapshotDir({ id: vmAId, name: "ja" }, s.id))).toBe(false);
    expect(await internalSnapshots(vmAId)).not.toContain(`snapfleet-${s.id}`);
    expect(await activeFile(vmAId)).toBe(vmA.disks[0].path);
    await expectGuestAdvances(vmA);
  });

  it("QEMU killed mid-snapshot: the job fails with the reason, the other VM is untouched; deleting it cleans the image offline", async () => {
    afterStatus = (status) => {
      if (status === "active") vmB.kill("SIGKILL");
    };
    const s = (await (await create(vmBId, { mode: "live" })).json()).snapshot as SnapshotJson;
    const r = await settled(s.id);
    afterStatus = () => {};
    expect(r.status).toBe("failed");
    expect(r.error).toMatchObject({ class: "qemu-exited" });
    expect(r.error!.message).toMatch(/QEMU exited/);
    // The VM's disk is its own image, complete; the disk state the run took stays in it, named, until deleted.
    expect(r.error!.message).toMatch(/may remain in .*deleting this snapshot removes it/);
    const dir = snapshotDir({ id: vmBId, name: "jb" }, s.id);
    expect(existsSync(path.join(dir, "vmstate.bin"))).toBe(false);
    await vmB.exited;
    expect((await listInternalSnapshotsOffline(vmB.disks[0].path)).map((x) => x.name)).toContain(`snapfleet-${s.id}`);
    const del = await deleteRoute(req(`/api/snapshots/${s.id}`, { method: "DELETE" }), ctx(s.id));
    expect(del.status).toBe(200);
    const steps = ((await del.json()) as { snapshot: SnapshotJson }).snapshot.deletion!.steps;
    expect(steps.find((x) => x.what.startsWith("internal snapshot"))!.note).toMatch(/no process had the image open/);
    expect((await listInternalSnapshotsOffline(vmB.disks[0].path)).map((x) => x.name)).not.toContain(
      `snapfleet-${s.id}`,
    );
    expect(existsSync(vmB.disks[0].path)).toBe(true);
    // The other VM: same worker, same process — still running, still snapshot-able.
    expect((await (await getVmSession(vmAId)).queryStatus()).status).toBe("running");
    await expectGuestAdvances(vmA);
  });

  it("cancelling a queued job ends it at once; a queued job the queue lost is failed at recovery", async () => {
    const seed = () =>
      db().snapshot.create({
        data: { vmId: vmAId, hostId, mode: "live", status: "queued", history: { create: { status: "queued" } } },
      });
    const queued = await seed();
    const res = await cancelRoute(req(`/api/snapshots/${queued.id}/cancel`, { method: "POST" }), ctx(queued.id));
    expect(res.status).toBe(202);
    const { snapshot } = (await res.json()) as { snapshot: SnapshotJson };
    expect(snapshot.status).toBe("cancelled");
    expect(snapshot.statusHistory.map((h) => h.status)).toEqual(["queued", "cancelled"]);

    const lost = await seed(); // no pg-boss job behind it
    expect(await recoverLostQueuedSnapshots(log)).toBe(1);
    expect(await get(lost.id)).toMatchObject({ status: "failed", error: { class: "interrupted" } });
  });

  it("a job left in flight by a dead process is failed with the reason at recovery", async () => {
    const row = await db().snapshot.create({
      data: {
        vmId: vmAId,
        hostId,
        mode: "live",
        status: "active",
        history: { create: [{ status: "queued" }, { status: "active" }] },
      },
    });
    expect(await recoverInterruptedSnapshots(log)).toBe(1);
    const r = await get(row.id);
    expect(r.status).toBe("failed");
    expect(r.error).toMatchObject({ class: "interrupted" });
    expect(r.error!.message).toMatch(/dashboard restarted during the snapshot/);
  });

  async function capabilities(): Promise<Record<string, boolean>> {
    const caps = await (await getVmSession(vmAId)).queryMigrateCapabilities();
    return Object.fromEntries(
      caps.filter((c) => ["background-snapshot", "events"].includes(c.capability)).map((c) => [c.capability, c.state]),
    );
  }

  /** The row of a run whose worker died in `status`, having switched both capabilities on (and more). */
  function deadRun(status: "setup" | "active", undo: { guestStopped?: boolean }) {
    const capabilities = [
      { capability: "background-snapshot", state: false },
      { capability: "events", state: false },
    ];
    return db().snapshot.create({
      data: {
        vmId: vmAId,
        hostId,
        mode: "live",
        status,
        undoOnCrash: { capabilities, ...undo },
        history: { create: [{ status: "queued" }, { status }] },
      },
    });
  }

  it("a dead run's changes are put back at recovery: the guest it paused runs again, the capabilities are as before", async () => {
    const qmp = await getVmSession(vmAId);
    // What a worker that died between its `stop` and the guest running again leaves behind.
    const row = await deadRun("setup", { guestStopped: true });
    await qmp.migrateSetCapabilities([
      { capability: "background-snapshot", state: true },
      { capability: "events", state: true },
    ]);
    await qmp.stop();
    expect(await recoverInterruptedSnapshots(log)).toBe(1);
    expect((await qmp.queryStatus()).status).toBe("running");
    expect(await capabilities()).toEqual({ "background-snapshot": false, events: false });
    const r = await get(row.id);
    expect(r).toMatchObject({ status: "failed", error: { class: "interrupted" } });
    expect(r.error!.message).toMatch(
      /On the VM: the guest, which Snapfleet had paused for the snapshot's instant, was resumed; the migration capabilities were put back \(background-snapshot off, events off\)/,
    );
    expect((await db().snapshot.findUniqueOrThrow({ where: { id: row.id } })).undoOnCrash).toBeNull();
    await expectGuestAdvances(vmA);
  });

  it("recovery leaves alone a guest the dead run had not paused (an operator's pause stays)", async () => {
    const qmp = await getVmSession(vmAId);
    const row = await deadRun("active", {});
    await qmp.migrateSetCapabilities([{ capability: "background-snapshot", state: true }]);
    await qmp.stop();
    try {
      expect(await recoverInterruptedSnapshots(log)).toBe(1);
      expect((await qmp.queryStatus()).status).toBe("paused");
      expect(await capabilities()).toEqual({ "background-snapshot": false, events: false });
      expect((await get(row.id)).error!.message).not.toMatch(/resumed/);
    } finally {
      await qmp.cont();
    }
    await expectGuestAdvances(vmA);
  });
});
