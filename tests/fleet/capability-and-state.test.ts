// Pure rules of the fleet module: when a background snapshot is impossible and how that is worded,
// how query-block becomes the disk list, and how QEMU run states and events map onto VM states.
import { describe, expect, test } from "vitest";
import { backgroundSnapshotBlocker, disksFromQueryBlock, type BlockerInputs } from "../../lib/fleet/probe";
import { stateFromEvent, stateFromRunState } from "../../lib/fleet/live-state";
import type { BlockInfo, QmpEvent } from "../../lib/qmp";

const caps = (on: string[] = []): BlockerInputs["capabilities"] =>
  ["events", "background-snapshot", "postcopy-ram", "multifd"].map((capability) => ({
    capability,
    state: on.includes(capability),
  }));

const base: BlockerInputs = {
  qemuVersion: "7.2.22",
  capabilities: caps(),
  blockedReasons: [],
  devices: [{ id: "vd0", type: "virtio-blk-pci" }],
  memoryBackends: [{ id: "mem0", type: "memory-backend-ram", share: false, hugetlb: false }],
  kernelRelease: "6.1.0-28-amd64",
};

describe("backgroundSnapshotBlocker", () => {
  test("a plain VM on a recent kernel can be snapshotted live", () => {
    expect(backgroundSnapshotBlocker(base)).toBeNull();
  });

  test("QEMU without the capability (older than 6.0)", () => {
    expect(
      backgroundSnapshotBlocker({
        ...base,
        qemuVersion: "5.2.0",
        capabilities: [{ capability: "events", state: false }],
      }),
    ).toBe("QEMU 5.2.0 has no background-snapshot capability (needs QEMU 6.0 or newer)");
  });

  test("a VFIO device is named with its type", () => {
    expect(backgroundSnapshotBlocker({ ...base, devices: [...base.devices, { id: "gpu0", type: "vfio-pci" }] })).toBe(
      'VFIO passthrough device "gpu0" (vfio-pci): its DMA writes cannot be write-tracked',
    );
  });

  test("QEMU's own migration blockers are quoted", () => {
    expect(
      backgroundSnapshotBlocker({
        ...base,
        blockedReasons: ["Migration is disabled when using feature 'peer mode' in device 'ivshmem'"],
      }),
    ).toBe("QEMU blocks migration: Migration is disabled when using feature 'peer mode' in device 'ivshmem'");
  });

  test("an incompatible capability left on", () => {
    expect(backgroundSnapshotBlocker({ ...base, capabilities: caps(["postcopy-ram", "events"]) })).toBe(
      "migration capability postcopy-ram is on and is incompatible with background-snapshot",
    );
  });

  test("shared and hugetlb memory need Linux 5.19; anonymous memory needs 5.7", () => {
    const shared = {
      ...base,
      memoryBackends: [{ id: "mem0", type: "memory-backend-memfd", share: true, hugetlb: false }],
    };
    expect(backgroundSnapshotBlocker(shared)).toBeNull();
    expect(backgroundSnapshotBlocker({ ...shared, kernelRelease: "5.10.0-30-amd64" })).toBe(
      'memory backend "mem0" is shared memory (memory-backend-memfd, share=on): write-protecting it needs Linux 5.19 or newer, the host runs 5.10.0-30-amd64',
    );
    const huge = {
      ...base,
      kernelRelease: "5.15.0",
      memoryBackends: [{ id: "mem0", type: "memory-backend-memfd", share: false, hugetlb: true }],
    };
    expect(backgroundSnapshotBlocker(huge)).toMatch(/"mem0" is hugetlb memory/);
    expect(backgroundSnapshotBlocker({ ...base, kernelRelease: "5.4.0-150-generic" })).toBe(
      "host kernel 5.4.0-150-generic has no userfaultfd write-protect (needs Linux 5.7 or newer)",
    );
    // Unknown kernel (a TLS endpoint): not guessed.
    expect(backgroundSnapshotBlocker({ ...shared, kernelRelease: null })).toBeNull();
  });

  test("file-backed memory: tmpfs and hugetlbfs can be tracked, a regular filesystem cannot", () => {
    const file = (fs: string) => ({
      ...base,
      memoryBackends: [
        { id: "ram", type: "memory-backend-file", share: true, hugetlb: false, memPath: "/srv/vm.ram", memPathFs: fs },
      ],
    });
    expect(backgroundSnapshotBlocker(file("tmpfs"))).toBeNull();
    expect(backgroundSnapshotBlocker(file("hugetlbfs"))).toBeNull();
    expect(backgroundSnapshotBlocker(file("ext2/ext3"))).toBe(
      'memory backend "ram" is file-backed on ext2/ext3 (/srv/vm.ram): write-protection works only on anonymous, tmpfs and hugetlbfs memory',
    );
  });

  test("several reasons are all given", () => {
    const text = backgroundSnapshotBlocker({
      ...base,
      devices: [{ id: "nic0", type: "vfio-pci" }],
      capabilities: caps(["multifd"]),
    });
    expect(text?.split("; ")).toHaveLength(2);
  });
});

describe("disksFromQueryBlock", () => {
  const inserted = (over: Partial<NonNullable<BlockInfo["inserted"]>>): NonNullable<BlockInfo["inserted"]> =>
    ({
      file: "/vm/disk.qcow2",
      "node-name": "disk0",
      ro: false,
      drv: "qcow2",
      image: { filename: "/vm/disk.qcow2", format: "qcow2", "virtual-size": 1 << 30 },
      ...over,
    }) as NonNullable<BlockInfo["inserted"]>;

  test("-blockdev disks are named by their qdev id; empty CD drives are skipped; read-only is kept", () => {
    const blocks = [
      {
        device: "",
        qdev: "/machine/peripheral/vd0/virtio-backend",
        type: "unknown",
        removable: false,
        locked: false,
        inserted: inserted({}),
      },
      {
        device: "ide2-cd0",
        qdev: "/machine/unattached/device[23]",
        type: "unknown",
        removable: true,
        locked: false,
        tray_open: false,
      },
      {
        device: "drive-1",
        type: "unknown",
        removable: false,
        locked: false,
        inserted: inserted({ "node-name": "#block312", ro: true, drv: "raw", file: "/iso/x.img" }),
      },
    ] as BlockInfo[];
    expect(disksFromQueryBlock(blocks)).toEqual([
      { node: "disk0", device: "vd0", format: "qcow2", file: "/vm/disk.qcow2", writable: true, sizeBytes: 1 << 30 },
      { node: "#block312", device: "drive-1", format: "raw", file: "/iso/x.img", writable: false, sizeBytes: 1 << 30 },
    ]);
  });
});

describe("VM state from QEMU", () => {
  const ev = (event: string, data: Record<string, unknown> = {}): QmpEvent => ({
    event,
    data,
    timestamp: { seconds: 1, microseconds: 0 },
    timeUs: 1e6,
  });

  test("run states", () => {
    expect(stateFromRunState("running")).toEqual({ state: "running", stateReason: null });
    expect(stateFromRunState("paused")).toEqual({ state: "paused", stateReason: null });
    expect(stateFromRunState("shutdown")).toEqual({ state: "shutdown", stateReason: null });
    expect(stateFromRunState("inmigrate")).toEqual({ state: "paused", stateReason: "QEMU run state: inmigrate" });
    expect(stateFromRunState("io-error")).toEqual({ state: "paused", stateReason: "QEMU run state: io-error" });
  });

  test("events", () => {
    expect(stateFromEvent(ev("STOP"))).toEqual({ state: "paused", stateReason: null });
    expect(stateFromEvent(ev("RESUME"))).toEqual({ state: "running", stateReason: null });
    expect(stateFromEvent(ev("SHUTDOWN", { guest: true, reason: "guest-shutdown" }))).toEqual({
      state: "shutdown",
      stateReason: "shutdown: guest-shutdown",
    });
    expect(stateFromEvent(ev("SUSPEND"))).toEqual({ state: "paused", stateReason: "guest suspended" });
    expect(stateFromEvent(ev("GUEST_PANICKED", { action: "pause" }))).toEqual({
      state: "paused",
      stateReason: "guest panicked",
    });
    expect(stateFromEvent(ev("MIGRATION", { status: "active" }))).toBeNull();
  });
});
