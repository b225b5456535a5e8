// lib/snapshots/pause-plan.ts (and host-memory.ts's collapseSupported), pure parts: which sequence and memory preparation a VM gets, the
// pause the VM page announces, and when never-written guest RAM may be made resident.
import { describe, expect, it } from "vitest";
import { collapseSupported } from "../../lib/snapshots/host-memory";
import {
  GATE_MIN_RESIDENT_BYTES,
  PAUSE_MODEL,
  describePausePlan,
  planConsistentPause,
  planMemoryPreparation,
  qemuResumesByItself,
  type PauseFacts,
} from "../../lib/snapshots/pause-plan";

const GIB = 1024 ** 3;
const base: PauseFacts = {
  qemuVersion: { major: 7, minor: 2, micro: 22 },
  memoryBytes: GIB,
  memoryKind: "anonymous",
  hostThp: "madvise",
  canCollapse: true,
};

describe("planConsistentPause", () => {
  it("anonymous RAM with THP on a host that can collapse: every snapshot pauses like the first", () => {
    const plan = planConsistentPause(base);
    expect(plan).toMatchObject({ sequence: "pipelined", resume: "qemu", memory: "collapse" });
    expect(plan.expectedPauseMs.first).toBe(plan.expectedPauseMs.later);
    expect(plan.expectedPauseMs.first).toBe(Math.round(PAUSE_MODEL.fixedMs + PAUSE_MODEL.hugeMappedMsPerGiB));
  });

  it("the disk step is announced with the data written in the images, slower from QEMU 9 on", () => {
    const small = planConsistentPause({ ...base, diskWrittenBytes: 64 * 1024 ** 2 });
    expect(small.expectedPauseMs.first).toBe(planConsistentPause(base).expectedPauseMs.first);
    const big72 = planConsistentPause({ ...base, diskWrittenBytes: 16 * GIB });
    const big10 = planConsistentPause({
      ...base,
      qemuVersion: { major: 10, minor: 0, micro: 2 },
      diskWrittenBytes: 16 * GIB,
    });
    expect(big72.expectedPauseMs.first).toBe(
      Math.round(
        PAUSE_MODEL.fixedMs + PAUSE_MODEL.hugeMappedMsPerGiB + 16 * PAUSE_MODEL.diskStepMsPerWrittenGiB.before9,
      ),
    );
    expect(big10.expectedPauseMs.first).toBe(
      Math.round(PAUSE_MODEL.fixedMs + PAUSE_MODEL.hugeMappedMsPerGiB + 16 * PAUSE_MODEL.diskStepMsPerWrittenGiB.from9),
    );
    expect(big10.reasons.join(" ")).toMatch(/the disks hold 16\.0 GiB of data: .* \(≈ 96 ms on QEMU 10\.0\)/);
  });

  it("without collapse, later snapshots are announced slower, with the reason", () => {
    const plan = planConsistentPause({ ...base, canCollapse: false });
    expect(plan.memory).toBe("none");
    expect(plan.expectedPauseMs.later).toBeGreaterThan(plan.expectedPauseMs.first);
    expect(plan.reasons.join(" ")).toMatch(/cannot merge them back/);
  });

  it("THP off or shared memory: 4 KiB mappings from the first snapshot on", () => {
    for (const f of [
      { ...base, hostThp: "never" as const },
      { ...base, memoryKind: "shared" as const },
    ]) {
      const plan = planConsistentPause(f);
      expect(plan.memory).toBe("none");
      expect(plan.expectedPauseMs.first).toBe(plan.expectedPauseMs.later);
      expect(plan.expectedPauseMs.first).toBe(Math.round(PAUSE_MODEL.fixedMs + PAUSE_MODEL.smallMappedMsPerGiB));
    }
  });

  it("hugetlb: no collapse needed; the first snapshot pays for never-touched pages", () => {
    const plan = planConsistentPause({ ...base, memoryKind: "hugetlb", memoryBytes: 2 * GIB });
    expect(plan.memory).toBe("none");
    expect(plan.expectedPauseMs.first).toBe(Math.round(PAUSE_MODEL.fixedMs + 2 * PAUSE_MODEL.hugetlbFirstMsPerGiB));
    expect(plan.expectedPauseMs.later).toBe(Math.round(PAUSE_MODEL.fixedMs + 2 * PAUSE_MODEL.hugeMappedMsPerGiB));
  });

  it("QEMU 9.0 and later keep a guest paused for the snapshot paused: Snapfleet resumes it", () => {
    expect(qemuResumesByItself({ major: 8, minor: 2, micro: 0 })).toBe(true);
    expect(qemuResumesByItself({ major: 9, minor: 0, micro: 0 })).toBe(false);
    const plan = planConsistentPause({ ...base, qemuVersion: { major: 9, minor: 2, micro: 0 } });
    expect(plan.resume).toBe("cont-after-stream");
    expect(plan.reasons.join(" ")).toMatch(/QEMU 9\.2 keeps a guest/);
  });

  it("QEMU < 9 on a host that can watch QEMU's threads, with ≥ 512 MiB resident: gated, the RAM walk out of the pause", () => {
    const big = { ...base, memoryBytes: 8 * GIB, canGate: true };
    expect(planConsistentPause({ ...big, residentBytes: GATE_MIN_RESIDENT_BYTES - 1 }).sequence).toBe("pipelined");
    const plan = planConsistentPause({ ...big, residentBytes: 7 * GIB });
    expect(plan).toMatchObject({ sequence: "gated", resume: "qemu", memory: "collapse" });
    const gated = Math.round(PAUSE_MODEL.gated.fixedMs + 8 * PAUSE_MODEL.gated.msPerGiB);
    expect(plan.expectedPauseMs).toEqual({ first: gated, later: gated });
    expect(gated).toBeLessThan(Math.round(PAUSE_MODEL.fixedMs + 8 * PAUSE_MODEL.hugeMappedMsPerGiB) / 3);
    expect(plan.reasons.join(" ")).toMatch(/7\.0 GiB resident/);
    expect(planConsistentPause({ ...big, residentBytes: 7 * GIB, memoryKind: "shared" }).sequence).toBe("gated");
    // Not where the gate cannot run: a remote host (canGate false) or hugetlb RAM (its walk is short).
    expect(planConsistentPause({ ...big, residentBytes: 7 * GIB, canGate: false }).sequence).toBe("pipelined");
    expect(planConsistentPause({ ...big, residentBytes: 7 * GIB, memoryKind: "hugetlb" }).sequence).toBe("pipelined");
  });

  it("QEMU 9 and later are never gated (their setup holds the main lock); the VM page names the owner's lever", () => {
    const plan = planConsistentPause({
      ...base,
      memoryBytes: 8 * GIB,
      residentBytes: 7 * GIB,
      canGate: true,
      qemuVersion: { major: 10, minor: 0, micro: 2 },
    });
    expect(plan.sequence).toBe("pipelined");
    expect(plan.expectedPauseMs.first).toBe(Math.round(PAUSE_MODEL.fixedMs + 8 * PAUSE_MODEL.hugeMappedMsPerGiB));
    // Beyond 8 GiB each GiB of the walk costs more (measured at 16 GiB).
    const sixteen = planConsistentPause({
      ...base,
      memoryBytes: 16 * GIB,
      residentBytes: 14 * GIB,
      qemuVersion: { major: 10, minor: 0, micro: 2 },
    });
    expect(sixteen.expectedPauseMs.first).toBe(
      Math.round(PAUSE_MODEL.fixedMs + 8 * PAUSE_MODEL.hugeMappedMsPerGiB + 8 * PAUSE_MODEL.hugeMappedBeyondMsPerGiB),
    );
    expect(plan.reasons.join(" ")).toMatch(
      /main lock between its walk over guest RAM and its first write.*hugetlb pages and prealloc=on/,
    );
    // A small guest gets no advice: its walk is short.
    expect(
      planConsistentPause({ ...base, qemuVersion: { major: 10, minor: 0, micro: 2 } }).reasons.join(" "),
    ).not.toMatch(/prealloc/);
  });

  it("describes the plan in one sentence for the VM page", () => {
    expect(describePausePlan(planConsistentPause(base))).toMatch(/^Expected guest pause ≈ \d+ ms: .+\.$/);
    expect(describePausePlan(planConsistentPause({ ...base, canCollapse: false }))).toMatch(
      /later snapshots of this QEMU process ≈ \d+ ms/,
    );
  });
});

describe("planMemoryPreparation", () => {
  const scan = { ramBytes: GIB, populatedBytes: GIB / 4, memTotalBytes: 24 * GIB };

  it("collapses everything when the host keeps a fifth of its memory free", () => {
    expect(planMemoryPreparation({ ...scan, wouldAllocateBytes: 0.75 * GIB, memAvailableBytes: 20 * GIB }).scope).toBe(
      "all",
    );
  });

  it("only what the guest uses when making the rest resident would squeeze the host", () => {
    const p = planMemoryPreparation({ ...scan, wouldAllocateBytes: 0.75 * GIB, memAvailableBytes: 5 * GIB });
    expect(p.scope).toBe("populated");
    expect(p.reason).toMatch(/768 MiB/);
  });

  it("costs nothing when all guest RAM is in use", () => {
    expect(planMemoryPreparation({ ...scan, wouldAllocateBytes: 0, memAvailableBytes: 0 }).scope).toBe("all");
  });
});

describe("collapseSupported", () => {
  it("needs Linux 6.1+, root and perl", () => {
    expect(collapseSupported({ kernel: [6, 1], root: true, perl: true })).toBe(true);
    expect(collapseSupported({ kernel: [5, 15], root: true, perl: true })).toBe(false);
    expect(collapseSupported({ kernel: [6, 18], root: false, perl: true })).toBe(false);
    expect(collapseSupported({ kernel: [7, 0], root: true, perl: false })).toBe(false);
  });
});
