// Restore and verify with real QEMU and real PostgreSQL (issue "Restore and verify"), one guest-kit VM
// that dirties RAM and writes its disk counter throughout, driven through the API route handlers and
// the queue workers the dashboard runs:
//   1. snapshot it, let it write on, roll it back through POST /api/snapshots/{id}/restore — the
//      guest's own checkers find RAM and disk from one instant, and that instant is the snapshot's
//      (its counter restarts below what it had reached) — twice in a row; then roll the rollback back
//      with its safety snapshot (disks-only: the guest boots and finds the counter it had reached);
//      the snapshot restored from is still deletable;
//   2. verify passes on a good snapshot (verifiedAt, a PNG console picture) and fails with QEMU's own
//      reason on a truncated vmstate, the running VM untouched.
// The dashboard starts the rolled-back QEMU detached (it outlives the dashboard): the test records its
// pids and kills them at the end (support.ts).
import { mkdirSync } from "node:fs";
import { mkdtemp, rm, stat, truncate } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { POST as restorePost, GET as restorePlan } from "../../app/api/snapshots/[id]/restore/route";
import { DELETE as deleteSnapshotRoute } from "../../app/api/snapshots/[id]/route";
import { GET as screenshotGet } from "../../app/api/snapshots/[id]/verify/screenshot/route";
import { POST as verifyPost } from "../../app/api/snapshots/[id]/verify/route";
import { db } from "../../lib/db/client";
import { refreshVm } from "../../lib/fleet/discovery";
import { closeAllVmSessions, getVmSession } from "../../lib/fleet/sessions";
import { startBoss, stopBoss } from "../../lib/jobs/boss";
import { logger } from "../../lib/logger";
import { getRestore } from "../../lib/restore/jobs";
import type { RestoreJson } from "../../lib/restore/restore-json";
import { startRestoreWorker } from "../../lib/restore/worker";
import { createSnapshotJob, getSnapshot } from "../../lib/snapshots/jobs";
import type { SnapshotJson } from "../../lib/snapshots/snapshot-json";
import { startSnapshotWorker } from "../../lib/snapshots/worker";
import { useTestDatabase } from "../support/db";
import { parseGuestTicks, startGuestKitVm, waitForGuestVerdict, type GuestKitOptions } from "../support/guest-kit";
import { expectGuestWritesPast, lastDiskN } from "../support/guest-progress";
import { disposeAllVms, type TestVm } from "../support/qemu";
import { until } from "../support/wait";
import { seedLocalHost } from "../support/local-host";
import { adoptDetachedQemu, killDetached } from "./support";

const database = useTestDatabase();
const log = logger.child({ test: "restore" });

// A VGA device so the sandbox has a console to take a picture of (the guest itself talks on ttyS0).
const GUEST: GuestKitOptions = {
  name: "rs",
  memoryMiB: 160,
  dirtyMiB: 16,
  diskCounter: true,
  diskIntervalMs: 20,
  extraArgs: ["-device", "VGA"],
};

let root: string;
let vm: TestVm;
let vmId: string;
const stops: Array<() => Promise<void>> = [];

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), "snapfleet-rs-"));
  const sinkDir = path.join(root, "sock");
  mkdirSync(sinkDir, { mode: 0o700 });
  vm = await startGuestKitVm(GUEST);
  vmId = (await seedLocalHost(root, [vm])).vms[0]!.id;
  // Discovery's read of the VM: its launch facts (pid, command line, plain process).
  const json = await refreshVm(vmId);
  expect(json.launch).toMatchObject({ pid: vm.pid, manager: { kind: "plain" }, source: "proc" });
  expect(json.launch!.machine).toMatch(/q35/);
  await startBoss(database.current.url, log);
  stops.push(await startSnapshotWorker({ log, pollIntervalMs: 250, sinkDir }));
  stops.push(await startRestoreWorker({ log, verifyRunMs: 2_000 }));
}, 180_000);

afterAll(async () => {
  for (const s of stops) await s().catch(() => undefined); // teardown: every worker gets its stop even if one fails
  await closeAllVmSessions();
  await stopBoss();
  await killDetached();
  await disposeAllVms();
  await rm(root, { recursive: true, force: true });
});

const req = (url: string, init?: RequestInit) => new Request(`http://test${url}`, init);
const ctx = (id: string) => ({ params: Promise.resolve({ id }) });

async function settledSnapshot(id: string): Promise<SnapshotJson> {
  return until(
    async () => {
      const s = await getSnapshot(id);
      return ["completed", "failed", "cancelled"].includes(s.status) ? s : undefined;
    },
    `snapshot ${id}`,
    120_000,
  );
}

async function settledRestore(id: string): Promise<RestoreJson> {
  return until(
    async () => {
      const r = await getRestore(id);
      return r.status === "completed" || r.status === "failed" ? r : undefined;
    },
    `restore ${id}`,
    180_000,
  );
}

async function rollBack(snapshotId: string): Promise<RestoreJson> {
  const res = await restorePost(req(`/api/snapshots/${snapshotId}/restore`, { method: "POST" }), ctx(snapshotId));
  const body = (await res.json()) as { restore: RestoreJson; error?: string };
  expect(res.status, body.error).toBe(202);
  const done = await settledRestore(body.restore.id);
  expect(done.status, done.error?.message).toBe("completed");
  expect(done.statusHistory.map((h) => h.status)).toEqual(["queued", "setup", "active", "completed"]);
  expect(done.safetySnapshotId).toBeTruthy();
  return done;
}

it("rolls the VM back to the snapshot instant twice, then rolls the rollback back with the safety snapshot", async () => {
  await vm.waitForSerial(/^tick 2 /m, 30_000);
  const atSnapshot = lastDiskN(vm);
  const s = await settledSnapshot((await createSnapshotJob({ vmId, mode: "live", note: "before" })).id);
  expect(s.status, s.error?.message).toBe("completed");
  const plan = await (await restorePlan(req(`/api/snapshots/${s.id}/restore`), ctx(s.id))).json();
  expect(plan).toMatchObject({ possible: true, refusal: null, coldBoot: false, newerSnapshots: 0 });

  let current = vm;
  for (const round of [1, 2]) {
    const reached = await expectGuestWritesPast(current, atSnapshot);
    const done = await rollBack(s.id);
    const pid = done.result!.newPid as number;
    expect(pid).not.toBe(current.pid);
    current = adoptDetachedQemu(vm, pid);
    const verdict = await waitForGuestVerdict(current, { timeoutMs: 60_000 });
    expect(verdict.ram, `round ${round}`).toMatchObject({ status: "consistent" });
    expect(verdict.disk, `round ${round}`).toMatchObject({ status: "consistent" });
    // The snapshot's instant: the counter continues from where it was then, not from where it got to.
    const first = parseGuestTicks(current.serialOutput())[0]!;
    expect(first.diskN).toBeGreaterThanOrEqual(atSnapshot);
    expect(first.diskN).toBeLessThan(reached);
    const vmRow = await db().vm.findUniqueOrThrow({ where: { id: vmId } });
    expect((vmRow.launch as { pid?: number }).pid).toBe(pid);
  }

  // Undo the second rollback with its safety snapshot: the disks as they were just before it.
  const from = current.serialOutput().length;
  await current.waitForSerial(/^tick \d+ [^\n]*\n(?:[^\n]*\n)*?tick \d+ /m, 30_000, from);
  const beforeUndo = lastDiskN(current);
  const second = (
    await db().restore.findFirstOrThrow({ where: { vmId, kind: "rollback" }, orderBy: { createdAt: "desc" } })
  ).safetySnapshotId!;
  const safety = await getSnapshot(second);
  expect(safety).toMatchObject({ mode: "disks-only", status: "completed" });
  expect(safety.note).toContain(s.id);
  const undo = await rollBack(second);
  current = adoptDetachedQemu(vm, undo.result!.newPid as number);
  const boot = await current.waitForSerial(/^DISK START n=(\d+)/m, 60_000);
  expect(Number(boot[1])).toBeGreaterThanOrEqual(beforeUndo);
  await current.waitForSerial(/^READY /m, 60_000);

  // The snapshot restored from (twice) is still deletable, and so is a safety snapshot.
  expect((await deleteSnapshotRoute(req(`/api/snapshots/${s.id}`, { method: "DELETE" }), ctx(s.id))).status).toBe(200);
  const firstSafety = (
    await db().restore.findFirstOrThrow({ where: { vmId, kind: "rollback" }, orderBy: { createdAt: "asc" } })
  ).safetySnapshotId!;
  expect(
    (await deleteSnapshotRoute(req(`/api/snapshots/${firstSafety}`, { method: "DELETE" }), ctx(firstSafety))).status,
  ).toBe(200);
  vm = current;
}, 600_000);

it("verify passes on a good snapshot with a console picture, and fails with QEMU's reason on a truncated vmstate", async () => {
  await vm.waitForSerial(/^tick \d+ /m, 30_000, vm.serialOutput().length);
  const good = await settledSnapshot((await createSnapshotJob({ vmId, mode: "live" })).id);
  expect(good.status, good.error?.message).toBe("completed");
  const res = await verifyPost(req(`/api/snapshots/${good.id}/verify`, { method: "POST" }), ctx(good.id));
  expect(res.status).toBe(202);
  const v = await settledRestore(((await res.json()) as { restore: RestoreJson }).restore.id);
  expect(v.status, v.error?.message).toBe("completed");
  expect(v.hasScreenshot).toBe(true);
  const after = await getSnapshot(good.id);
  expect(after.verifiedAt).not.toBeNull();
  expect(after.verifyError).toBeNull();
  const png = await screenshotGet(req(`/api/snapshots/${good.id}/verify/screenshot`), ctx(good.id));
  expect(png.status).toBe(200);
  expect(png.headers.get("content-type")).toBe("image/png");
  expect(
    Buffer.from(await png.arrayBuffer())
      .subarray(1, 4)
      .toString(),
  ).toBe("PNG");

  const bad = await settledSnapshot((await createSnapshotJob({ vmId, mode: "live" })).id);
  expect(bad.status).toBe("completed");
  const vmstate = bad.files.find((f) => f.role === "vmstate")!.path;
  await truncate(vmstate, Math.floor((await stat(vmstate)).size / 2));
  const res2 = await verifyPost(req(`/api/snapshots/${bad.id}/verify`, { method: "POST" }), ctx(bad.id));
  const f = await settledRestore(((await res2.json()) as { restore: RestoreJson }).restore.id);
  expect(f.status).toBe("failed");
  expect(f.error!.class).toBe("vmstate-load");
  const badAfter = await getSnapshot(bad.id);
  expect(badAfter.verifiedAt).toBeNull();
  // QEMU's own words (its stderr), e.g. "Unknown combination of migration flags" or "load of migration failed".
  expect(badAfter.verifyError).toMatch(/qemu-system-x86_64: .*(migration|load|section|flags|Input\/output)/i);
  // The running VM was never touched.
  expect((await (await getVmSession(vmId)).queryStatus()).status).toBe("running");
  const from = vm.serialOutput().length;
  await vm.waitForSerial(/^tick \d+ /m, 20_000, from);
}, 300_000);
