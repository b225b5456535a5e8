// The disk model survives an operator's day (issue: "Snapshots that survive real operations"), with real
// QEMU and real PostgreSQL, one guest-kit VM writing its disk counter throughout:
//   1. the dashboard is SIGKILLed while a live snapshot streams; a restarted dashboard's recovery fails
//      the job and cleans up; deleting that snapshot unlinks nothing QEMU has open, and after a restart
//      of the VM with its own command line the guest's disk counter continues (no write lost);
//   2. a deletion killed between two steps is finished by the next dashboard's recovery;
//   3. snapshot, restart the VM's QEMU with its unchanged command line, let it write, restore the
//      snapshot: the guest's checkers find it consistent, and the VM's own disk kept the new writes;
//   4. 50 scheduled snapshots with keep-last 3: the image holds at most 3 (+1 in flight) internal
//      snapshots and no backing chain ever; deleting the middle, oldest and newest leaves the rest
//      restorable (each restored and checked).
import { existsSync, mkdirSync, readdirSync, readlinkSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { DELETE as deleteRoute } from "../../app/api/snapshots/[id]/route";
import { db } from "../../lib/db/client";
import { closeAllVmSessions, getVmSession } from "../../lib/fleet/sessions";
import { startBoss, stopBoss } from "../../lib/jobs/boss";
import { logger } from "../../lib/logger";
import { applyRetention } from "../../lib/scheduler/finalize";
import { snapshotEnginePort } from "../../lib/scheduler/engine-port";
import { resumeInterruptedDeletions } from "../../lib/snapshots/deletion";
import { checkDiskDrift } from "../../lib/snapshots/disk-drift";
import { createSnapshotJob, getSnapshot } from "../../lib/snapshots/jobs";
import { recoverInterruptedSnapshots, waitForRecoveryTrackers } from "../../lib/snapshots/recovery";
import type { SnapshotJson } from "../../lib/snapshots/snapshot-json";
import { startSnapshotWorker } from "../../lib/snapshots/worker";
import { startGuestKitVm, type GuestKitOptions } from "../support/guest-kit";
import { expectGuestAdvances, lastDiskN } from "../support/guest-progress";
import { useTestDatabase } from "../support/db";
import { disposeAllVms, restartVm, type TestVm } from "../support/qemu";
import { expectRestoresConsistent } from "../support/restore";
import { settledSnapshot } from "../support/snapshot-jobs";
import { startStandIn } from "../support/stand-in";
import { seedLocalHost } from "../support/local-host";
import { until } from "../support/wait";

const database = useTestDatabase();
const log = logger.child({ test: "disk-model" });

const GUEST: GuestKitOptions = { name: "dm", memoryMiB: 160, dirtyMiB: 16, diskCounter: true, diskIntervalMs: 20 };

let root: string;
let sinkDir: string;
let vm: TestVm;
let hostId: string;
let vmId: string;

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), "snapfleet-dm-"));
  sinkDir = path.join(root, "sock");
  mkdirSync(sinkDir, { mode: 0o700 });
  vm = await startGuestKitVm(GUEST);
  const seeded = await seedLocalHost(root, [vm]);
  hostId = seeded.host.id;
  vmId = seeded.vms[0]!.id;
});

afterAll(async () => {
  await closeAllVmSessions();
  await stopBoss();
  await disposeAllVms();
  await rm(root, { recursive: true, force: true });
});

const req = (url: string, init?: RequestInit) => new Request(`http://test${url}`, init);
const del = (id: string) =>
  deleteRoute(req(`/api/snapshots/${id}`, { method: "DELETE" }), { params: Promise.resolve({ id }) });

/** Runs the stand-in dashboard (SIGKILLed at the line `killWhen` matches); resolves with what it printed. */
async function standIn(
  args: Record<string, unknown>,
  killWhen?: (line: Record<string, unknown>) => boolean,
): Promise<Array<Record<string, unknown>>> {
  const s = startStandIn(args, (line, child) => killWhen?.(line) && child.kill("SIGKILL"));
  await s.exited;
  if (s.child.exitCode !== 0 && s.child.signalCode !== "SIGKILL")
    throw new Error(`stand-in exited ${s.child.exitCode}: ${s.stderr().slice(-2000)}`);
  return s.lines;
}

/** A queued job row as "Snapshot now" leaves it (the stand-in runs it instead of a queue worker). */
async function queuedJob(): Promise<string> {
  const row = await db().snapshot.create({
    data: { vmId, hostId, mode: "live", status: "queued", history: { create: { status: "queued" } } },
  });
  return row.id;
}

/** Paths QEMU holds open that were unlinked under it (what a bad delete leaves: "(deleted)"). */
function deletedFilesHeldBy(pid: number): string[] {
  return readdirSync(`/proc/${pid}/fd`).flatMap((fd) => {
    const target = (() => {
      try {
        return readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        return "";
      }
    })();
    return target.endsWith(" (deleted)") && !target.startsWith("/memfd:") ? [target] : [];
  });
}

async function internalSnapshots(): Promise<{ names: string[]; backing: boolean }> {
  const [b] = (await (await getVmSession(vmId)).queryBlock()).filter((x) => x.inserted && !x.inserted.ro);
  return {
    names: (b!.inserted!.image.snapshots ?? []).map((s) => s.name),
    backing: b!.inserted!.image["backing-image"] !== undefined,
  };
}

/** Restarts the VM with its own command line and returns the counter the guest found on its disk at boot. */
async function restartAndReadCounter(): Promise<number> {
  await closeAllVmSessions();
  const before = lastDiskN(vm);
  vm = await restartVm(vm);
  const m = await vm.waitForSerial(/^DISK START n=(\d+)/m, 60_000);
  await vm.waitForSerial(/^READY /m, 60_000);
  expect(Number(m[1])).toBeGreaterThanOrEqual(before);
  return Number(m[1]);
}

async function expectSnapshotRestoresConsistent(s: SnapshotJson, name: string): Promise<void> {
  await (await expectRestoresConsistent(GUEST, s.files, { work: root, name })).dispose();
}

it("dashboard SIGKILLed mid-snapshot: recovery follows and completes it, the delete unlinks nothing in use, a VM restart loses no write", async () => {
  await vm.waitForSerial(/^tick 2 /m, 30_000);
  const id = await queuedJob();
  const lines = await standIn({ mode: "run", snapshotId: id, sinkDir }, (l) => l.status === "active");
  expect(lines.at(-1)).toEqual({ status: "active" });
  // The restarted dashboard: its recovery follows the job while the sink writes QEMU's stream, then —
  // QEMU completed, the vmstate is complete, the internal snapshot is in the image — completes it.
  expect(await recoverInterruptedSnapshots(log, { pollMs: 200 })).toBe(0);
  await waitForRecoveryTrackers();
  // A sweep that came as QEMU was finishing (sink done, migration not yet over) leaves the job to the next
  // sweep, as the worker's minute timer would: sweep again until it is settled.
  const done = await until(async () => {
    const s = await getSnapshot(id);
    if (s.status !== "active" && s.status !== "setup") return s;
    await recoverInterruptedSnapshots(log, { pollMs: 200 });
    await waitForRecoveryTrackers();
    return undefined;
  }, "recovery to settle the job");
  expect(done.status, done.error?.message).toBe("completed");
  expect((await internalSnapshots()).names).toContain(`snapfleet-${id}`);

  const res = await del(id);
  expect(res.status).toBe(200);
  expect(deletedFilesHeldBy(vm.pid)).toEqual([]);
  expect((await (await getVmSession(vmId)).queryStatus()).status).toBe("running");
  await expectGuestAdvances(vm);
  await restartAndReadCounter();
  await expectGuestAdvances(vm);
}, 240_000);

it("a deletion killed between two steps is finished by the next dashboard's recovery", async () => {
  await closeAllVmSessions();
  const id = await queuedJob();
  const ran = await standIn({ mode: "run", snapshotId: id, sinkDir });
  expect(ran.at(-1)).toEqual({ done: true });
  const taken = await getSnapshot(id);
  expect(taken.status).toBe("completed");
  const vmstate = taken.files.find((f) => f.role === "vmstate")!.path;

  const lines = await standIn({ mode: "delete", snapshotId: id, killAfterStep: 0 });
  expect(lines.at(-1)).toEqual({ step: 0 });
  const half = await getSnapshot(id);
  expect(half.deletedAt).toBeNull();
  expect(half.deletion!.steps[0]).toMatchObject({ state: "done" });
  expect(half.deletion!.steps.slice(1).every((s) => s.state === "pending" || s.state === "running")).toBe(true);
  // Step 0 removed the disk state; the vmstate is still there, waiting for its step.
  expect((await internalSnapshots()).names).not.toContain(`snapfleet-${id}`);
  expect(existsSync(vmstate)).toBe(true);

  expect(await resumeInterruptedDeletions(log)).toBe(1);
  const done = await getSnapshot(id);
  expect(done.deletedAt).not.toBeNull();
  expect(done.deletion!.steps.every((s) => s.state === "done")).toBe(true);
  expect(existsSync(vmstate)).toBe(false);
  expect(existsSync(path.dirname(vmstate))).toBe(false);
  await expectGuestAdvances(vm);
}, 240_000);

it("snapshot, restart the VM with its own command line, let it write, restore: consistent, and the VM's disk kept its new writes", async () => {
  const url = database.current.url;
  await startBoss(url, log);
  const stopWorker = await startSnapshotWorker({ log, pollIntervalMs: 250, sinkDir });
  try {
    await vm.waitForSerial(/^tick 2 /m, 30_000);
    const s = await settledSnapshot((await createSnapshotJob({ vmId, mode: "live" })).id);
    expect(s.status).toBe("completed");
    const atRestart = await restartAndReadCounter();
    // The restarted guest continues from its disk and writes on into the same image.
    const from = vm.serialOutput().length;
    await vm.waitForSerial(/^tick 3 /m, 30_000, from);
    expect(lastDiskN(vm)).toBeGreaterThan(atRestart);
    expect(await checkDiskDrift(vmId)).toEqual([]);
    await expectSnapshotRestoresConsistent(s, "dm-restart-restore");
    // QEMU's node names changed with the restart: the delete finds the image by its path.
    expect((await del(s.id)).status).toBe(200);
    expect((await internalSnapshots()).names).not.toContain(`snapfleet-${s.id}`);
  } finally {
    await stopWorker();
  }
}, 300_000);

it("50 scheduled snapshots with keep-last 3: the disk stays bounded; deleting middle, oldest and newest leaves the rest restorable", async () => {
  const stopWorker = await startSnapshotWorker({ log, pollIntervalMs: 250, sinkDir });
  try {
    const schedule = await db().schedule.create({
      data: { name: "hourly", cron: "0 * * * *", targets: { vmIds: [vmId] }, retention: { keepLast: 3 } },
    });
    const port = snapshotEnginePort(log);
    let most = 0;
    for (let i = 0; i < 50; i++) {
      const s = await settledSnapshot((await createSnapshotJob({ vmId, mode: "live", scheduleId: schedule.id })).id);
      expect(s.status, s.error?.message).toBe("completed");
      await applyRetention({ scheduleId: schedule.id, runId: null, vmIds: [vmId], port, log });
      const image = await internalSnapshots();
      expect(image.backing).toBe(false);
      most = Math.max(most, image.names.length);
    }
    expect(most).toBeLessThanOrEqual(4);
    const kept = await db().snapshot.findMany({
      where: { vmId, scheduleId: schedule.id, deletedAt: null },
      orderBy: { createdAt: "asc" },
    });
    expect(kept).toHaveLength(3);
    expect((await internalSnapshots()).names.sort()).toEqual(kept.map((k) => `snapfleet-${k.id}`).sort());
    // Two more, taken by hand: five snapshots, then the middle, the oldest and the newest are deleted.
    const m1 = await settledSnapshot((await createSnapshotJob({ vmId, mode: "live" })).id);
    const m2 = await settledSnapshot((await createSnapshotJob({ vmId, mode: "live" })).id);
    const all = [...kept.map((k) => k.id), m1.id, m2.id];
    for (const id of [all[2]!, all[0]!, all[4]!]) expect((await del(id)).status).toBe(200);
    const left = [all[1]!, all[3]!];
    expect((await internalSnapshots()).names.sort()).toEqual(left.map((id) => `snapfleet-${id}`).sort());
    for (const [i, id] of left.entries()) await expectSnapshotRestoresConsistent(await getSnapshot(id), `dm-keep-${i}`);
    await expectGuestAdvances(vm);
  } finally {
    await stopWorker();
  }
}, 900_000);
