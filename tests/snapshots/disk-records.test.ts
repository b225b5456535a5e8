// The pure parts of the disk model: which disks can hold a snapshot (diskSnapshotBlocker), what a
// pre-ledger row is taken to have created (legacyArtifacts: nothing is guessed), the deletion journal's
// parsing, and what counts as drift between a VM's live block graph and its snapshots' records.
import { describe, expect, it } from "vitest";
import { diskSnapshotBlocker } from "../../lib/fleet/vm-json";
import type { BlockInfo, ImageInfo } from "../../lib/qmp/types";
import { legacyArtifacts, parseArtifacts, planArtifacts } from "../../lib/snapshots/artifacts";
import { parseJournal } from "../../lib/snapshots/deletion-journal";
import { findDrift } from "../../lib/snapshots/disk-drift";

const disk = (format: string, writable = true) => ({ device: "vd0", file: `/vms/a.${format}`, format, writable });

describe("diskSnapshotBlocker", () => {
  it("lets qcow2 disks and read-only raw media through", () => {
    expect(diskSnapshotBlocker([disk("qcow2"), disk("raw", false)])).toBeNull();
  });
  it("names every writable non-qcow2 disk and what to do", () => {
    const why = diskSnapshotBlocker([disk("qcow2"), { ...disk("raw"), device: "vd1" }]);
    expect(why).toMatch(
      /^disk vd1 \(raw, \/vms\/a\.raw\) is not qcow2: .*only a ram-only snapshot .*qemu-img convert -O qcow2/,
    );
  });
});

describe("artifact ledger", () => {
  it("plans directory, vmstate, sink status and one internal snapshot per disk, in creation order", () => {
    const plan = planArtifacts({
      targetDir: "/s/vm/1",
      vmstate: { file: "/s/vm/1/vmstate.bin", status: "/s/vm/1/vmstate.bin.sink.json" },
      disks: [{ device: "vd0", image: "/vms/a.qcow2" }],
      snapshotId: "1",
    });
    expect(plan.map((a) => a.kind)).toEqual(["dir", "file", "file", "internal-snapshot"]);
    expect(parseArtifacts(JSON.parse(JSON.stringify(plan)))).toEqual(plan);
  });
  it("drops malformed entries instead of trusting them", () => {
    expect(parseArtifacts([{ kind: "file", path: "/x" }, { kind: "dir" }, "x", null])).toEqual([]);
  });
  it("derives a legacy row's artifacts from what it recorded, and guesses nothing when it recorded nothing", () => {
    const row = {
      files: [
        { path: "/s/vm/1/vmstate.bin", role: "vmstate" },
        { path: "/vms/a.qcow2", role: "disk" },
      ],
      diskChain: [{ device: "vd0", image: "/vms/a.qcow2", overlay: "/s/vm/1/disk0-vd0.qcow2" }],
    };
    expect(legacyArtifacts(row, (f) => `${f}.sink.json`)).toEqual([
      { kind: "dir", path: "/s/vm/1" },
      { kind: "file", path: "/s/vm/1/vmstate.bin", what: "vmstate" },
      { kind: "file", path: "/s/vm/1/vmstate.bin.sink.json", what: "sink-status" },
      { kind: "overlay", path: "/s/vm/1/disk0-vd0.qcow2", base: "/vms/a.qcow2", device: "vd0" },
    ]);
    // A failed pre-ledger run recorded no files: its directory may hold the VM's active layer.
    expect(legacyArtifacts({ files: [], diskChain: [] }, (f) => f)).toEqual([]);
  });
  it("reads a journal back, dropping steps whose artifact does not parse", () => {
    const j = parseJournal({
      reason: "r",
      startedAt: "t",
      steps: [
        { artifact: { kind: "dir", path: "/a" }, state: "done" },
        { artifact: { kind: "?" }, state: "pending" },
      ],
    });
    expect(j).toEqual({
      reason: "r",
      startedAt: "t",
      steps: [{ artifact: { kind: "dir", path: "/a" }, state: "done" }],
    });
    expect(parseJournal("nonsense")).toBeNull();
  });
});

function block(top: ImageInfo): BlockInfo {
  return {
    device: "",
    qdev: "vd0",
    type: "unknown",
    removable: false,
    locked: false,
    inserted: { image: top } as BlockInfo["inserted"],
  };
}
const image = (filename: string, snapshots: string[] = [], backing?: ImageInfo): ImageInfo => ({
  filename,
  format: "qcow2",
  "virtual-size": 1,
  snapshots: snapshots.map((name, i) => ({
    id: String(i),
    name,
    "vm-state-size": 0,
    "date-sec": 0,
    "date-nsec": 0,
    "vm-clock-sec": 0,
    "vm-clock-nsec": 0,
  })),
  ...(backing ? { "backing-image": backing } : {}),
});
const snap = (id: string, artifacts: unknown[] = [], diskChain: unknown[] = []) => ({
  id,
  createdAt: new Date("2026-12-04T10:00:00Z"),
  artifacts,
  diskChain,
});

describe("findDrift", () => {
  const internal = { kind: "internal-snapshot", image: "/vms/a.qcow2", name: "snapfleet-1", device: "vd0" };

  it("finds nothing when every recorded image is in use and holds its snapshot", () => {
    expect(findDrift([block(image("/vms/a.qcow2", ["snapfleet-1"]))], [snap("1", [internal])])).toEqual([]);
  });
  it("reports an internal snapshot deleted by hand", () => {
    const [f] = findDrift([block(image("/vms/a.qcow2", []))], [snap("1", [internal])]);
    expect(f).toMatch(/internal snapshot snapfleet-1 is gone from \/vms\/a\.qcow2/);
  });
  it("reports a VM restarted on another image", () => {
    const [f] = findDrift([block(image("/vms/b.qcow2", ["snapfleet-1"]))], [snap("1", [internal])]);
    expect(f).toMatch(
      /keeps vd0's state in \/vms\/a\.qcow2, which the VM no longer uses \(it runs on \/vms\/b\.qcow2\)/,
    );
  });
  it("reports a legacy layer out of the chain (the VM restarted on its original image) and accepts one still in it", () => {
    const legacy = snap("2", [], [{ image: "/vms/a.qcow2", overlay: "/s/vm/2/disk0-vd0.qcow2" }]);
    expect(findDrift([block(image("/s/vm/2/disk0-vd0.qcow2", [], image("/vms/a.qcow2")))], [legacy])).toEqual([]);
    const [f] = findDrift([block(image("/vms/a.qcow2"))], [legacy]);
    expect(f).toMatch(
      /layered the disk onto \/s\/vm\/2\/disk0-vd0\.qcow2, which the VM no longer uses .* may no longer restore as taken/,
    );
  });
});
