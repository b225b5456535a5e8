// run-snapshot against a real QEMU guest (the guest kit: it dirties RAM, writes a disk counter and
// prints a tick every second), with no database: the QEMU sequence alone. `npm test` runs it on the
// system's QEMU 7.2 and on a QEMU ≥ 9 (SNAPFLEET_QEMU), which resume the guest differently. One VM
// serves every case in order, so the disk chain grows and is merged back exactly as in production:
//   live → ram-only → disks-only → merge the live snapshot's layer (intermediate commit) → merge the
//   disks-only layer (active commit + pivot) → cancel mid-stream → a paused VM stays paused →
//   refusals that touch nothing.
// After each case the guest must still be running and making progress (its ticks advance).
import { randomUUID } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Host } from "../../lib/db/generated/client";
import { hostFilesFor } from "../../lib/fleet/host-files";
import { connectQmp, type QmpClient } from "../../lib/qmp";
import { commitLayer } from "../../lib/snapshots/disk-chain";
import { qemuResumesByItself } from "../../lib/snapshots/pause-strategy";
import { runSnapshot, type RunSnapshotInput, type SnapshotRunResult } from "../../lib/snapshots/run-snapshot";
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

async function capability(name: string): Promise<boolean | undefined> {
  return (await qmp.queryMigrateCapabilities()).find((c) => c.capability === name)?.state;
}

function snap(mode: SnapshotModeName, extra: Partial<RunSnapshotInput> & { onStatus?: (s: string) => Promise<void> | void } = {}) {
  const statuses: string[] = [];
  const progress: number[] = [];
  /** The guest's STOP/RESUME events and the run's undo reports (what a crash would leave), in order. */
  const timeline: string[] = [];
  const offEvents = qmp.on(["STOP", "RESUME"], (e) => timeline.push(e.event));
  const { onStatus, ...rest } = extra;
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
      onStatus: async (s) => {
        statuses.push(s);
        await onStatus?.(s);
      },
      onProgress: (p) => void progress.push(p.progress),
      onUndoChange: async (u) => void timeline.push(`undo ${JSON.stringify(u)}`),
    },
    ...rest,
  }).finally(offEvents);
  return { snapshotId, statuses, progress, timeline, done, dir: path.join(root, "rs", snapshotId) };
}

describe("runSnapshot on a running guest-kit VM", () => {
  let live: SnapshotRunResult;
  let disksOnly: SnapshotRunResult;
  const base = () => vm.disks[0].path;

  it("live: disks + RAM at one instant; the overlay takes the guest's writes from then on", async () => {
    const s = snap("live");
    live = await s.done;
    expect(live.error).toBeUndefined();
    expect(live.status).toBe("completed");
    expect(s.statuses).toEqual(["preflight", "setup", "active"]);
    const vmstate = live.files.find((f) => f.role === "vmstate")!;
    expect(vmstate.path).toBe(path.join(s.dir, "vmstate.bin"));
    expect(readFileSync(vmstate.path).subarray(0, 4).toString("latin1")).toBe("QEVM");
    expect(vmstate.sizeBytes).toBeGreaterThan(16 * 1024 * 1024);
    expect(live.files.find((f) => f.role === "disk")).toMatchObject({ path: base(), node: "disk0", format: "qcow2" });
    expect(live.diskChain).toEqual([expect.objectContaining({ device: "vd0", node: "disk0", image: base() })]);
    expect(await activeFile()).toBe(live.diskChain[0].overlay);
    expect(live.metrics.guestPauseMs).toBeGreaterThan(0);
    expect(live.metrics.qemuDowntimeMs).toBeGreaterThanOrEqual(0);
    expect(live.metrics.throughputBytesPerSec).toBeGreaterThan(0);
    expect(live.metrics.ramTransferredBytes).toBeGreaterThan(0);
    expect(s.progress.every((p) => p >= 0 && p <= 1)).toBe(true);
    // Each change a crash would leave on the VM is on record before it is made, and cleared once undone.
    const caps = '{"capabilities":[{"capability":"background-snapshot","state":false},{"capability":"events","state":false}]';
    expect(s.timeline).toEqual([`undo ${caps}}`, `undo ${caps},"guestStopped":true}`, "STOP", "RESUME", `undo ${caps}}`, "undo null"]);
    // Capabilities are put back: a later migration by another tool is not a background snapshot.
    expect(await capability("background-snapshot")).toBe(false);
    await expectGuestAdvances(vm);
  });

  it("ram-only: no disk step, QEMU pauses the guest itself for milliseconds", async () => {
    const before = await activeFile();
    const s = snap("ram-only");
    const r = await s.done;
    expect(r.status).toBe("completed");
    expect(s.statuses).toEqual(["preflight", "setup", "active"]);
    expect(r.diskChain).toEqual([]);
    expect(r.files.map((f) => f.role)).toEqual(["vmstate"]);
    expect(await activeFile()).toBe(before);
    expect(r.metrics.guestPauseMs).toBeGreaterThan(0);
    await expectGuestAdvances(vm);
  });

  it("disks-only: crash-consistent layer, no RAM, never 'active'", async () => {
    const s = snap("disks-only");
    disksOnly = await s.done;
    expect(disksOnly.status).toBe("completed");
    expect(s.statuses).toEqual(["preflight", "setup"]);
    expect(disksOnly.files.map((f) => f.role)).toEqual(["disk"]);
    expect(disksOnly.files[0].path).toBe(live.diskChain[0].overlay);
    expect(await activeFile()).toBe(disksOnly.diskChain[0].overlay);
    expect(disksOnly.metrics.guestPauseMs).toBeGreaterThan(0);
    await expectGuestAdvances(vm);
  });

  it("merging the live snapshot's layer is an intermediate commit; the next snapshot's image stays valid", async () => {
    const l = live.diskChain[0];
    const kind = await commitLayer(qmp, { overlayNode: l.overlayNode, overlayPath: l.overlay, baseNode: l.node, jobId: "t-merge-1" });
    expect(kind).toBe("intermediate");
    await rm(l.overlay);
    const chain = (await qmp.queryBlock()).find((b) => b.inserted && !b.inserted.ro)!.inserted!.image;
    expect(chain.filename).toBe(disksOnly.diskChain[0].overlay);
    expect(chain["backing-image"]?.filename).toBe(base());
    await expectGuestAdvances(vm);
  });

  it("merging the newest layer is an active commit that pivots the disk back onto its base", async () => {
    const d = disksOnly.diskChain[0];
    // After the previous merge, the disks-only snapshot inherited the live snapshot's image and node.
    const kind = await commitLayer(qmp, { overlayNode: d.overlayNode, overlayPath: d.overlay, baseNode: live.diskChain[0].node, jobId: "t-merge-2" });
    expect(kind).toBe("active");
    await rm(d.overlay);
    expect(await activeFile()).toBe(base());
    await expectGuestAdvances(vm);
  });

  it("cancel mid-stream: the sink drains, QEMU finishes, files go, disks are merged back", async () => {
    const ac = new AbortController();
    const s = snap("live", { signal: ac.signal, onStatus: (st) => void (st === "active" && ac.abort()) });
    const r = await s.done;
    expect(r.status).toBe("cancelled");
    expect(r.files).toEqual([]);
    expect(existsSync(s.dir)).toBe(false);
    expect(await activeFile()).toBe(base());
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
      const d = r.diskChain[0];
      await commitLayer(qmp, { overlayNode: d.overlayNode, overlayPath: d.overlay, baseNode: d.node, jobId: "t-merge-3" });
    } finally {
      await qmp.cont();
    }
    expect(await activeFile()).toBe(base());
    await expectGuestAdvances(vm);
  });

  it("an overlay that cannot be created fails the snapshot before the guest is paused, leaving nothing behind", async () => {
    // Something occupies the overlay's path once preflight has passed: creating the overlay image
    // (done while the guest runs, pause-strategy.ts) fails.
    let dir = "";
    const s = snap("live", {
      onStatus: async (st) => {
        if (st === "setup") await mkdir(path.join(dir, "disk0-vd0.qcow2"), { recursive: true });
      },
    });
    dir = s.dir;
    const r = await s.done;
    expect(r).toMatchObject({ status: "failed", error: { errorClass: "disk-snapshot" } });
    expect(r.error!.message).toMatch(/preparing the disk overlays failed/);
    expect((await qmp.queryStatus()).status).toBe("running");
    expect(existsSync(s.dir)).toBe(false);
    expect(await activeFile()).toBe(base());
    expect(await capability("background-snapshot")).toBe(false);
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
    expect(await activeFile()).toBe(base());
    expect((await qmp.queryStatus()).status).toBe("running");
  });
});
