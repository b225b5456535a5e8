// run-snapshot against a real QEMU guest (the guest kit: it dirties RAM, writes a disk counter and
// prints a tick every second), with no database: the QEMU sequence alone. `npm test` runs it on the
// system's QEMU 7.2 and on a QEMU ≥ 9 (SNAPFLEET_QEMU), which resume the guest differently. One VM
// serves every case in order: live → ram-only → disks-only → cancel mid-stream → a paused VM stays
// paused → a disk snapshot QEMU refuses → refusals that touch nothing. Through all of them the VM keeps
// running on the very image its command line names (each disk state is an internal snapshot inside it).
// After each case the guest must still be running and making progress (its ticks advance).
import { randomUUID } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Host } from "../../lib/db/generated/client";
import { hostFilesFor } from "../../lib/fleet/host-files";
import { connectQmp, type QmpClient } from "../../lib/qmp";
import type { Artifact } from "../../lib/snapshots/artifacts";
import { qemuResumesByItself } from "../../lib/snapshots/pause-plan";
import { runSnapshot, type RunSnapshotInput } from "../../lib/snapshots/run-snapshot";
import type { SnapshotModeName } from "../../lib/validations/snapshot";
import { startGuestKitVm } from "../support/guest-kit";
import { expectGuestAdvances } from "../support/guest-progress";
import { disposeAllVms, type TestVm } from "../support/qemu";

const localFiles = hostFilesFor({ kind: "local" } as Host);
let root: string;
let vm: TestVm;
let qmp: QmpClient;

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), "snapfleet-rs-"));
  vm = await startGuestKitVm({ name: "rs", memoryMiB: 160, dirtyMiB: 16, diskCounter: true });
  qmp = await connectQmp({ kind: "unix", path: vm.qmpSocket });
});

afterAll(async () => {
  await qmp?.close();
  await disposeAllVms();
  await rm(root, { recursive: true, force: true });
});

async function activeFile(): Promise<string> {
  const blocks = await qmp.queryBlock();
  return blocks.find((b) => b.inserted && !b.inserted.ro)!.inserted!.image.filename;
}

/** Internal snapshots of the VM's disk image, as its QEMU sees them. */
async function internalSnapshots(): Promise<string[]> {
  const blocks = await qmp.queryBlock();
  return (blocks.find((b) => b.inserted && !b.inserted.ro)!.inserted!.image.snapshots ?? []).map((s) => s.name);
}

async function capability(name: string): Promise<boolean | undefined> {
  return (await qmp.queryMigrateCapabilities()).find((c) => c.capability === name)?.state;
}

function snap(
  mode: SnapshotModeName,
  extra: Partial<RunSnapshotInput> & {
    onStatus?: (s: string) => Promise<void> | void;
    onPlan?: (a: Artifact[]) => Promise<void>;
  } = {},
) {
  const statuses: string[] = [];
  const progress: number[] = [];
  /** The guest's STOP/RESUME events and the run's undo reports (what a crash would leave), in order. */
  const timeline: string[] = [];
  /** The ledger as handed over, and whether anything of it existed at that moment. */
  const plan: { artifacts?: Artifact[]; dirExisted?: boolean } = {};
  const offEvents = qmp.on(["STOP", "RESUME"], (e) => timeline.push(e.event));
  const { onStatus, onPlan, ...rest } = extra;
  const snapshotId = randomUUID();
  const done = runSnapshot({
    qmp,
    snapshotId,
    mode,
    vmDirName: "rs",
    hostKind: "local",
    hostFiles: localFiles,
    snapshotRoot: root,
    pollIntervalMs: 250,
    hooks: {
      onPlan: async (artifacts) => {
        plan.artifacts = artifacts;
        plan.dirExisted = existsSync(path.join(root, "rs", snapshotId));
        await onPlan?.(artifacts);
      },
      onStatus: async (s) => {
        statuses.push(s);
        await onStatus?.(s);
      },
      onProgress: (p) => void progress.push(p.progress),
      onUndoChange: async (u) => void timeline.push(`undo ${JSON.stringify(u)}`),
    },
    ...rest,
  }).finally(offEvents);
  return {
    snapshotId,
    statuses,
    progress,
    timeline,
    plan,
    done,
    dir: path.join(root, "rs", snapshotId),
    name: `snapfleet-${snapshotId}`,
  };
}

describe("runSnapshot on a running guest-kit VM", () => {
  const base = () => vm.disks[0].path;

  it("live: disks + RAM at one instant; the disk state is an internal snapshot inside the VM's own image", async () => {
    const s = snap("live");
    const live = await s.done;
    expect(live.error).toBeUndefined();
    expect(live.status).toBe("completed");
    expect(s.statuses).toEqual(["preflight", "setup", "active"]);
    // Everything the run could create was on record before any of it existed.
    expect(s.plan.dirExisted).toBe(false);
    expect(s.plan.artifacts).toEqual([
      { kind: "dir", path: s.dir },
      { kind: "file", path: path.join(s.dir, "vmstate.bin"), what: "vmstate" },
      { kind: "file", path: path.join(s.dir, "vmstate.bin.sink.json"), what: "sink-status" },
      { kind: "internal-snapshot", image: base(), name: s.name, device: "vd0" },
    ]);
    const vmstate = live.files.find((f) => f.role === "vmstate")!;
    expect(vmstate.path).toBe(path.join(s.dir, "vmstate.bin"));
    expect(readFileSync(vmstate.path).subarray(0, 4).toString("latin1")).toBe("QEVM");
    expect(vmstate.sizeBytes).toBeGreaterThan(16 * 1024 * 1024);
    expect(live.files.find((f) => f.role === "disk")).toMatchObject({
      path: base(),
      format: "qcow2",
      internalSnapshot: s.name,
    });
    // The VM still writes to the image its command line names; the snapshot lives inside it.
    expect(await activeFile()).toBe(base());
    expect(await internalSnapshots()).toContain(s.name);
    expect(live.metrics.guestPauseMs).toBeGreaterThan(0);
    expect(live.metrics.qemuDowntimeMs).toBeGreaterThanOrEqual(0);
    expect(live.metrics.throughputBytesPerSec).toBeGreaterThan(0);
    expect(live.metrics.ramTransferredBytes).toBeGreaterThan(0);
    expect(s.progress.every((p) => p >= 0 && p <= 1)).toBe(true);
    // Each change a crash would leave on the VM is on record before it is made, and cleared once undone.
    const caps =
      '{"capabilities":[{"capability":"background-snapshot","state":false},{"capability":"events","state":false}]';
    expect(s.timeline).toEqual([
      `undo ${caps}}`,
      `undo ${caps},"guestStopped":true}`,
      "STOP",
      "RESUME",
      `undo ${caps}}`,
      "undo null",
    ]);
    // Capabilities are put back: a later migration by another tool is not a background snapshot.
    expect(await capability("background-snapshot")).toBe(false);
    await expectGuestAdvances(vm);
  });

  it("ram-only: no disk step, QEMU pauses the guest itself for milliseconds", async () => {
    const before = await internalSnapshots();
    const s = snap("ram-only");
    const r = await s.done;
    expect(r.status).toBe("completed");
    expect(s.statuses).toEqual(["preflight", "setup", "active"]);
    expect(r.files.map((f) => f.role)).toEqual(["vmstate"]);
    expect(s.plan.artifacts!.map((a) => a.kind)).toEqual(["dir", "file", "file"]);
    expect(await activeFile()).toBe(base());
    expect(await internalSnapshots()).toEqual(before);
    expect(r.metrics.guestPauseMs).toBeGreaterThan(0);
    await expectGuestAdvances(vm);
  });

  it("disks-only: crash-consistent internal snapshot, no RAM, never 'active'", async () => {
    const s = snap("disks-only");
    const r = await s.done;
    expect(r.status).toBe("completed");
    expect(s.statuses).toEqual(["preflight", "setup"]);
    expect(r.files).toEqual([expect.objectContaining({ role: "disk", path: base(), internalSnapshot: s.name })]);
    expect(await activeFile()).toBe(base());
    expect(await internalSnapshots()).toContain(s.name);
    expect(r.metrics.guestPauseMs).toBeGreaterThan(0);
    await expectGuestAdvances(vm);
  });

  it("cancel mid-stream: the sink drains, QEMU finishes, its files and its internal snapshot go", async () => {
    const ac = new AbortController();
    const s = snap("live", { signal: ac.signal, onStatus: (st) => void (st === "active" && ac.abort()) });
    const r = await s.done;
    expect(r.status).toBe("cancelled");
    expect(r.files).toEqual([]);
    expect(existsSync(s.dir)).toBe(false);
    expect(await activeFile()).toBe(base());
    expect(await internalSnapshots()).not.toContain(s.name);
    expect((await qmp.queryMigrate()).status).toBe("completed");
    expect((await qmp.queryStatus()).status).toBe("running");
    await expectGuestAdvances(vm);
  });

  it("a paused VM is left paused (QEMU < 9 resumes it after its setup and we pause it again; ≥ 9 never runs it)", async () => {
    await qmp.stop();
    try {
      const s = snap("live");
      const r = await s.done;
      expect(r.status).toBe("completed");
      expect(r.metrics.guestPauseMs).toBeUndefined();
      expect(r.detail).toMatch(/paused/);
      expect((await qmp.queryStatus()).status).toBe("paused");
      const runState = s.timeline.filter((e) => e === "STOP" || e === "RESUME");
      expect(runState).toEqual(qemuResumesByItself(qmp.greeting.version.qemu) ? ["RESUME", "STOP"] : []);
      expect(await internalSnapshots()).toContain(s.name);
    } finally {
      await qmp.cont();
    }
    expect(await activeFile()).toBe(base());
    await expectGuestAdvances(vm);
  });

  it("a disk snapshot QEMU refuses fails the run, resumes the guest, and removes only what the run created", async () => {
    // Something already holds the snapshot's name inside the image once the plan is recorded: QEMU
    // refuses the transaction inside the pause. That internal snapshot is not the run's to delete.
    const s = snap("live", {
      onPlan: async (artifacts) => {
        const name = artifacts.flatMap((a) => (a.kind === "internal-snapshot" ? [a.name] : []))[0];
        await qmp.transaction([{ type: "blockdev-snapshot-internal-sync", data: { device: "disk0", name } }]);
      },
    });
    const r = await s.done;
    expect(r).toMatchObject({ status: "failed", error: { errorClass: "disk-snapshot" } });
    expect(r.error!.message).toMatch(/internal snapshots failed/);
    expect((await qmp.queryStatus()).status).toBe("running");
    expect(existsSync(s.dir)).toBe(false);
    expect(await activeFile()).toBe(base());
    expect(await internalSnapshots()).toContain(s.name);
    expect(await capability("background-snapshot")).toBe(false);
    await qmp.blockdevSnapshotDeleteInternalSync("disk0", s.name);
    await expectGuestAdvances(vm);
  });

  it("refuses before touching the VM: target not a directory, not enough space", async () => {
    const notDir = path.join(root, "plain-file");
    await writeFile(notDir, "x");
    const s1 = snap("live", { snapshotRoot: notDir });
    const r1 = await s1.done;
    expect(r1).toMatchObject({ status: "failed", error: { errorClass: "refused" } });
    expect(r1.error!.message).toMatch(/not a directory/);
    expect(s1.statuses).toEqual(["preflight"]);

    const s2 = snap("ram-only", { hostFiles: { ...localFiles, freeBytes: async () => 1024 * 1024 } });
    const r2 = await s2.done;
    expect(r2.error?.message).toMatch(/needs at least .*guest RAM/);
    expect(s2.plan.artifacts).toBeUndefined();
    expect(await activeFile()).toBe(vm.disks[0].path);
    expect((await qmp.queryStatus()).status).toBe("running");
  });
});
