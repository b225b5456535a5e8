// Snapshots taken before internal snapshots (external overlays, docs/disk-chains.md) keep working, with
// real QEMU and PostgreSQL: a legacy layer is made exactly as the old engine made it (stop,
// blockdev-snapshot-sync into the snapshot's directory, cont) and recorded as the old rows were (files,
// diskChain, no ledger). Then:
//   - a newer snapshot taken while the VM runs on that layer keeps its disk state inside it, so deleting
//     the legacy snapshot is refused until the newer one is gone; then it merges back (active commit +
//     pivot) and the VM is on its original image again;
//   - a VM restarted on its original image (its command line names it) is flagged as drift; the delete is
//     refused until an operator acknowledges, and then keeps the unused layer in place.
import { mkdirSync } from "node:fs";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { DELETE as deleteRoute } from "../../app/api/snapshots/[id]/route";
import { POST as acknowledgeRoute } from "../../app/api/vms/[id]/disk-drift/acknowledge/route";
import { db } from "../../lib/db/client";
import { closeAllVmSessions, getVmSession } from "../../lib/fleet/sessions";
import { logger } from "../../lib/logger";
import { checkDiskDrift } from "../../lib/snapshots/disk-drift";
import { executeSnapshotJob } from "../../lib/snapshots/execute-job";
import { getSnapshot, vmDirName } from "../../lib/snapshots/jobs";
import { startGuestKitVm } from "../support/guest-kit";
import { expectGuestAdvances } from "../support/guest-progress";
import { useTestDatabase } from "../support/db";
import { disposeAllVms, restartVm, type TestVm } from "../support/qemu";
import { seedLocalHost } from "../support/local-host";

useTestDatabase();
const log = logger.child({ test: "legacy-layers" });

let root: string;
let vm: TestVm;
let hostId: string;
let vmId: string;

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), "snapfleet-ll-"));
  vm = await startGuestKitVm({ name: "ll", memoryMiB: 160, dirtyMiB: 8, diskCounter: true });
  const seeded = await seedLocalHost(root, [vm]);
  hostId = seeded.host.id;
  vmId = seeded.vms[0]!.id;
});

afterAll(async () => {
  await closeAllVmSessions();
  await disposeAllVms();
  await rm(root, { recursive: true, force: true });
});

const del = (id: string) =>
  deleteRoute(new Request(`http://test/api/snapshots/${id}`, { method: "DELETE" }), {
    params: Promise.resolve({ id }),
  });

async function activeChain(): Promise<string[]> {
  const [b] = (await (await getVmSession(vmId)).queryBlock()).filter((x) => x.inserted && !x.inserted.ro);
  const files: string[] = [];
  for (let i = b!.inserted!.image; i; i = i["backing-image"]!) files.push(i.filename);
  return files;
}

/** A disks-only snapshot as the engine before internal snapshots took it and recorded it. */
async function legacySnapshot(): Promise<{ id: string; overlay: string }> {
  const row = await db().snapshot.create({
    data: { vmId, hostId, mode: "disks_only", status: "queued", history: { create: { status: "queued" } } },
  });
  const dir = path.join(root, "snaps", vmDirName({ id: vmId, name: vm.name }), row.id);
  mkdirSync(dir, { recursive: true });
  const overlay = path.join(dir, "disk0-vd0.qcow2");
  const [image] = await activeChain();
  const qmp = await getVmSession(vmId);
  await qmp.stop();
  await qmp.transaction([
    {
      type: "blockdev-snapshot-sync",
      data: {
        "node-name": "disk0",
        "snapshot-file": overlay,
        "snapshot-node-name": "legacy1",
        format: "qcow2",
        mode: "absolute-paths",
      },
    },
  ]);
  await qmp.cont();
  await db().snapshot.update({
    where: { id: row.id },
    data: {
      status: "completed",
      files: [{ path: image!, role: "disk", node: "disk0", format: "qcow2", sizeBytes: 0 }],
      diskChain: [{ device: "vd0", node: "disk0", image: image!, format: "qcow2", overlay, overlayNode: "legacy1" }],
    },
  });
  return { id: row.id, overlay };
}

it("a legacy layer holding a newer snapshot's disk state is not merged; once that one is gone it merges back onto the original image", async () => {
  const base = vm.disks[0]!.path;
  const legacy = await legacySnapshot();
  expect(await activeChain()).toEqual([legacy.overlay, base]);

  const newer = await db().snapshot.create({
    data: { vmId, hostId, mode: "disks_only", status: "queued", history: { create: { status: "queued" } } },
  });
  const taken = await executeSnapshotJob(newer.id, { log });
  expect(taken?.status).toBe("completed");
  expect(taken!.files[0]).toMatchObject({ path: legacy.overlay, internalSnapshot: `snapfleet-${newer.id}` });

  const refused = await del(legacy.id);
  expect(refused.status).toBe(409);
  expect((await refused.json()).error).toMatch(/holds the disk state of 1 newer snapshot .*delete that first/);
  expect(existsSync(legacy.overlay)).toBe(true);
  expect((await getSnapshot(legacy.id)).deletion!.error).toMatch(/holds the disk state/);

  expect((await del(newer.id)).status).toBe(200);
  const merged = await del(legacy.id);
  expect(merged.status).toBe(200);
  const steps = ((await merged.json()) as { snapshot: { deletion: { steps: Array<{ what: string; note: string }> } } })
    .snapshot.deletion.steps;
  expect(steps.find((s) => s.what.startsWith("disk layer"))!.note).toMatch(
    /merged into .* \(active commit\); .* removed/,
  );
  expect(await activeChain()).toEqual([base]);
  expect(existsSync(legacy.overlay)).toBe(false);
  await expectGuestAdvances(vm);
}, 180_000);

it("a VM restarted on its original image is drift: deletes wait for an operator, then keep the unused layer", async () => {
  const legacy = await legacySnapshot();
  await closeAllVmSessions();
  vm = await restartVm(vm); // its command line names the original image, not the layer
  await vm.waitForSerial(/^READY /m, 60_000);
  const findings = await checkDiskDrift(vmId);
  expect(findings).toHaveLength(1);
  expect(findings![0]).toMatch(/no longer uses .* may no longer restore as taken/);

  const refused = await del(legacy.id);
  expect(refused.status).toBe(409);
  expect((await refused.json()).error).toMatch(
    /disks no longer match what Snapfleet recorded .* confirm before deleting/,
  );

  const ack = await acknowledgeRoute(
    new Request(`http://test/api/vms/${vmId}/disk-drift/acknowledge`, {
      method: "POST",
      body: JSON.stringify({ findings }),
    }),
    { params: Promise.resolve({ id: vmId }) },
  );
  expect(ack.status).toBe(200);
  expect((await ack.json()).diskDrift).toMatchObject({ acknowledged: true });

  const done = await del(legacy.id);
  expect(done.status).toBe(200);
  expect(existsSync(legacy.overlay)).toBe(true); // may hold writes the operator wants: never removed unasked
  expect(await activeChain()).toEqual([vm.disks[0]!.path]);
  await expectGuestAdvances(vm);
}, 180_000);
