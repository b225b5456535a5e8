// Faults of a dashboard that runs as several processes on one PostgreSQL, with real QEMU:
//   - one of two worker processes is SIGKILLed holding a job mid-stream: the survivor's recovery
//     settles the job (completed on proof, or failed with the reason), the guest keeps running, nothing
//     that is not a complete snapshot is left, and a job of another VM completes meanwhile;
//   - a retention run is SIGKILLed in the middle of a deletion: the next sweep finishes that deletion,
//     the snapshots retention keeps are untouched and still hold their disk state.
import { existsSync, mkdirSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { db } from "../../lib/db/client";
import { closeAllVmSessions, getVmSession } from "../../lib/fleet/sessions";
import { startBoss, stopBoss } from "../../lib/jobs/boss";
import { logger } from "../../lib/logger";
import { resumeInterruptedDeletions } from "../../lib/snapshots/deletion";
import { executeSnapshotJob } from "../../lib/snapshots/execute-job";
import { createSnapshotJob, getSnapshot } from "../../lib/snapshots/jobs";
import { startGuestKitVm } from "../support/guest-kit";
import { expectGuestAdvances } from "../support/guest-progress";
import { useTestDatabase } from "../support/db";
import { disposeAllVms, type TestVm } from "../support/qemu";
import { settledSnapshot } from "../support/snapshot-jobs";
import { standIns, startStandIn } from "../support/stand-in";
import { seedLocalHost } from "../support/local-host";

const database = useTestDatabase();
const log = logger.child({ test: "worker-crash" });

let root: string;
let sinkDir: string;
let vmA: TestVm;
let vmB: TestVm;
let hostId: string;
let vmAId: string;
let vmBId: string;

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), "snapfleet-wc-"));
  sinkDir = path.join(root, "sock");
  mkdirSync(sinkDir, { mode: 0o700 });
  [vmA, vmB] = await Promise.all([
    startGuestKitVm({ name: "wca", memoryMiB: 192, dirtyMiB: 48, diskCounter: true }),
    startGuestKitVm({ name: "wcb", memoryMiB: 160, dirtyMiB: 8, diskCounter: true }),
  ]);
  const seeded = await seedLocalHost(root, [vmA, vmB]);
  hostId = seeded.host.id;
  [vmAId, vmBId] = seeded.vms.map((v) => v.id) as [string, string];
  await startBoss(database.current.url, log); // this process only enqueues
});

afterAll(async () => {
  for (const c of standIns) c.kill("SIGKILL");
  await stopBoss();
  await closeAllVmSessions();
  await disposeAllVms();
  await rm(root, { recursive: true, force: true });
});

it("one of two worker processes SIGKILLed holding a job: the other settles it, the guest runs, the other VM's job completes", async () => {
  const workers = [
    startStandIn({ mode: "worker", sinkDir, sweepMs: 2_000 }),
    startStandIn({ mode: "worker", sinkDir, sweepMs: 2_000 }),
  ];
  await Promise.all(workers.map((w) => w.next((l) => l.ready === true)));
  await vmA.waitForSerial(/^tick 2 /m, 30_000);
  const a = await createSnapshotJob({ vmId: vmAId, mode: "live" });
  // Whichever worker took it: killed as soon as the RAM streams.
  const holder = await Promise.race(
    workers.map(async (w) => {
      await w.next((l) => l.snapshotId === a.id && l.status === "active");
      return w;
    }),
  );
  holder.child.kill("SIGKILL");
  await holder.exited;
  const survivor = workers.find((w) => w !== holder)!;
  const b = await createSnapshotJob({ vmId: vmBId, mode: "live" });

  const endA = await settledSnapshot(a.id);
  expect((await settledSnapshot(b.id)).status).toBe("completed");
  expect(survivor.child.exitCode).toBeNull();
  // The survivor holds the VMs' monitors (QEMU serves one client): it goes before this process looks.
  survivor.child.kill("SIGKILL");
  await survivor.exited;
  expect(["completed", "failed"]).toContain(endA.status);
  const blocks = await (await getVmSession(vmAId, { claimWaitMs: 10_000 })).queryBlock();
  const names = blocks.flatMap((x) =>
    x.inserted && !x.inserted.ro ? (x.inserted.image.snapshots ?? []).map((s) => s.name) : [],
  );
  const vmstate = path.join(root, "snaps", `wca-${vmAId.slice(0, 8)}`, a.id, "vmstate.bin");
  if (endA.status === "failed") {
    expect(endA.error!.message).toMatch(/dashboard restarted|went away|interrupted/);
    expect(endA.files).toEqual([]);
    expect(existsSync(vmstate)).toBe(false);
    expect(names).not.toContain(`snapfleet-${a.id}`);
  } else {
    // Completed on proof: the vmstate is whole and the disk state is in the image.
    expect(existsSync(endA.files.find((f) => f.role === "vmstate")!.path)).toBe(true);
    expect(names).toContain(`snapfleet-${a.id}`);
  }
  expect((await (await getVmSession(vmAId, { claimWaitMs: 10_000 })).queryStatus()).status).toBe("running");
  await expectGuestAdvances(vmA);
  await expectGuestAdvances(vmB);
}, 300_000);

it("a retention run SIGKILLed mid-deletion: the next sweep finishes it; the kept snapshots keep their disk state", async () => {
  await closeAllVmSessions();
  const schedule = await db().schedule.create({
    data: { name: "keep-2", cron: "0 * * * *", targets: { vmIds: [vmBId] }, retention: { keepLast: 2 } },
  });
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) {
    const row = await db().snapshot.create({
      data: {
        vmId: vmBId,
        hostId,
        mode: "disks_only",
        scheduleId: schedule.id,
        status: "queued",
        history: { create: { status: "queued" } },
      },
    });
    expect((await executeSnapshotJob(row.id, { log }))?.status).toBe("completed");
    ids.push(row.id);
  }
  await closeAllVmSessions(); // the stand-in's turn to hold the VM's monitor
  const run = startStandIn({ mode: "retention", scheduleId: schedule.id, vmId: vmBId, killAfterStep: 0 });
  await run.exited;
  expect(run.lines).toContainEqual({ deleting: ids[0] });
  expect(run.lines.at(-1)).toEqual({ step: 0 });
  expect((await getSnapshot(ids[0]!)).deletion?.steps.some((s) => s.state !== "done")).toBe(true);

  expect(await resumeInterruptedDeletions(log)).toBe(1);
  expect((await getSnapshot(ids[0]!)).deletedAt).not.toBeNull();
  const blocks = await (await getVmSession(vmBId)).queryBlock();
  const names = blocks.flatMap((x) =>
    x.inserted && !x.inserted.ro ? (x.inserted.image.snapshots ?? []).map((s) => s.name) : [],
  );
  expect(names).not.toContain(`snapfleet-${ids[0]}`);
  expect(names).toEqual(expect.arrayContaining([ids[1]!, ids[2]!].map((id) => `snapfleet-${id}`)));
  await expectGuestAdvances(vmB);
}, 300_000);
