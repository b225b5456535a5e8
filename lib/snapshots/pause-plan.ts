// The pure decision for a consistent (disk + RAM) snapshot: which sequence to run for a VM, who resumes
// the guest, the pause to expect and why (planConsistentPause), and how much guest RAM to collapse
// between snapshots (planMemoryPreparation). The pause-critical QMP steps are in pause-steps.ts, the
// host-side memory collapse in host-memory.ts. Evidence and figures: docs/performance.md.
//
// Why the naive sequence pauses long (QEMU 7.2, migration/migration.c bg_migration_thread, ram.c):
// with `stop` → `transaction` → `migrate`, everything QEMU does before its own vm_stop is guest pause:
// our QMP round trips and (formerly) the overlay file creation, the channel connect, ram_write_tracking_prepare()
// (reads one byte of every 4 KiB guest page) and qemu_savevm_state_setup(); then, after vm_stop, the
// device state and ram_write_tracking_start() (UFFDIO_WRITEPROTECT over all guest RAM). On a first
// snapshot guest RAM is mapped by 2 MiB transparent huge pages and both walks are cheap. The snapshot
// itself then splits every huge-page mapping (7.2 un-protects 4 KiB at a time), so from the second
// snapshot of a QEMU process on, both walks cross 262,144 page-table entries per GiB: measured here,
// that is what makes later snapshots pause 5–20× longer (perf: ram_write_tracking_prepare and
// change_pte_range dominate the pause; AnonHugePages 944 MB → 51 MB after the first snapshot).
//
// The strategy (measured in bench/, see docs/performance.md):
//  1. The disk step inside the pause creates no file: each disk's state is an internal qcow2 snapshot
//     (blockdev-snapshot-internal-sync: the image's L1 table is copied and refcounts raised — metadata
//     only; docs/disk-chains.md says why the disk model is internal snapshots).
//  2. `stop`, `transaction` and `migrate` are written in one go (pipelined): QEMU executes them in
//     order, so the pause pays no dashboard round trip. If the transaction fails, `migrate` still
//     runs: the caller discards that stream (a 7.2 background snapshot must never be cancelled).
//  3. After each snapshot, on local hosts, the guest's RAM is collapsed back into 2 MiB pages
//     (process_madvise(MADV_COLLAPSE), Linux ≥ 6.1), so every snapshot pauses like the first.
//     Ranges the guest never wrote (zero-page mappings) are collapsed too only when the host can
//     afford it: that makes them resident (see planMemoryPreparation).
//  4. Resume: QEMU ≤ 8.2 resumes the guest by itself at the end of its setup whatever the state was
//     (bg_migration_vm_start_bh → vm_start()); from 9.0 ("migration: preserve suspended runstate")
//     it restores the state it found — paused by us — so Snapfleet must `cont`, and only once the
//     device state is saved: the first RAM page in the stream proves it (RESUME_AFTER_STREAM_BYTES).
// What it protects: every writer, raw block devices included (vCPUs are stopped at the instant), so it
// is safe for every VM a background snapshot is possible for. Guest-agent fs-freeze was evaluated and
// is not the default: it does not cover raw block-device writers, swap or non-freezable file systems,
// needs an agent channel, and its guest pause is QEMU's own (the ram-only figure), which this strategy
// reaches once memory is collapsed.
// Invariants: everything here is pure (no I/O, no QMP, no clock): the same facts always give the same
// plan. Points 1, 2 and 4 are carried out by pause-steps.ts, point 3 by host-memory.ts.
import type { QmpVersionTriple } from "../qmp";

// ---------------------------------------------------------------------------------------------
// Decision
// ---------------------------------------------------------------------------------------------

/** How QEMU backs guest RAM, as far as it matters for the pause. */
export type GuestMemoryKind = "anonymous" | "hugetlb" | "shared" | "unknown";

export interface PauseFacts {
  qemuVersion: QmpVersionTriple;
  memoryBytes: number;
  memoryKind: GuestMemoryKind;
  /** The host's /sys/kernel/mm/transparent_hugepage/enabled (anonymous RAM gets huge pages unless "never"). */
  hostThp: "always" | "madvise" | "never" | "unknown";
  /** Snapfleet can collapse this QEMU's RAM (local host, Linux ≥ 6.1, root, perl, QEMU's pid known). */
  canCollapse: boolean;
  /** Data allocated in the VM's writable qcow2 images (their actual size): the disk step's cost grows with it. */
  diskWrittenBytes?: number;
  /** Guest RAM QEMU's process has resident (local hosts: RssAnon + RssShmem), what QEMU's RAM walk reads page by page. */
  residentBytes?: number;
  /**
   * Snapfleet can run the RAM-walk gate for this VM (ram-walk-gate.ts): local host, QEMU's pid known and
   * its threads' wait channels readable, perl present.
   */
  canGate?: boolean;
}

export type MemoryPreparation = "collapse" | "none";

export interface PausePlan {
  /**
   * pipelined: stop, disk step and migrate in one write (the RAM walk is inside the pause); gated: QEMU
   * walks guest RAM while the guest runs and the pause starts once it is done (ram-walk-gate.ts).
   */
  sequence: "pipelined" | "gated";
  /** Who resumes the guest after QEMU saved the device state. */
  resume: "qemu" | "cont-after-stream";
  memory: MemoryPreparation;
  /** Expected guest pause (QMP STOP→RESUME) on the reference machine, first and later snapshots. */
  expectedPauseMs: { first: number; later: number };
  /** One sentence per decision, for the VM page. */
  reasons: string[];
}

/**
 * Per-GiB and fixed costs of the pause measured by `npm run bench -- pause --sizes=1,4,8` on the reference
 * machine (2 vCPUs, TCG, load 2–4; docs/performance.md "A bigger guest"). A model for the VM page, not a
 * promise: a busier host stretches every figure. tests/bench-support/pause-model.test.ts holds it to the
 * latest measured medians (within 30 % per size).
 */
export const PAUSE_MODEL = {
  /**
   * Our commands inside the pause (pipelined `stop`, the internal disk snapshots, `migrate`; on QEMU ≥ 9 the
   * `cont` once RAM streams) and QEMU's device state + write protection + resume: independent of RAM size.
   * Measured through the API: STOP→setup 6–10 ms, active→RESUME 3–5 ms (QEMU 10.0).
   */
  fixedMs: 12,
  /**
   * QEMU's RAM walk inside the pause (ram_write_tracking_prepare reads one byte of every 4 KiB page), per
   * GiB of guest RAM mapped by 2 MiB pages (first snapshot, or after a collapse): setup→active 6 / 26–28 /
   * 59–62 ms for 1 / 4 / 8 GiB guests with 85 % of RAM written (QEMU 10.0; 7.2 without the gate: 8–10 /
   * 30–31 / 61 ms).
   */
  hugeMappedMsPerGiB: 7.5,
  /**
   * The same walk per GiB beyond the first HUGE_WALK_LINEAR_GIB: on QEMU 10.0 a 16 GiB guest's walk took
   * 154–620 ms (median of its four cells 251 ms, 20 snapshots, RAM fully 2 MiB-mapped), not the 120 ms
   * the 8 GiB rate gives — each further GiB cost ≈ 23 ms on this machine, itself a VM with nested paging.
   */
  hugeMappedBeyondMsPerGiB: 23,
  /** The same walks over RAM mapped by 4 KiB pages (later snapshots without collapse): +15–20 ms/GiB at load 1–3, +60–80 at load 5–8. */
  smallMappedMsPerGiB: 40,
  /** hugetlb, first snapshot: never-touched huge pages are allocated and zeroed inside the pause (worst case: none touched yet). */
  hugetlbFirstMsPerGiB: 2000,
  /**
   * The internal disk snapshot inside the pause, per GiB of data written in the images (refcounts of
   * every allocated cluster are raised): QEMU 7.2 +3 ms at 1 GiB, +28 ms at 16 GiB; QEMU 10.0 +7 / +95 ms
   * (bench/parts/disk-snapshot.ts, docs/performance.md "Internal qcow2 snapshots").
   */
  diskStepMsPerWrittenGiB: { before9: 1.7, from9: 6 },
  /**
   * Gated (QEMU < 9): our `stop`, the disk step, the gate opening, QEMU's device state and resume — without
   * the RAM walk. Through the API, 10 snapshots per QEMU process (`--nth=10`), idle and busy, the median of
   * the four cells (idle/busy × 1st/later) of 1 / 4 / 8 / 16 GiB guests with 85 % of RAM written was
   * 8.4 / 8.8 / 18.3 / 21.4 ms: most snapshots 6–15 ms at every size, but from 8 GiB on one in three pauses
   * 20–80 ms, all of it between our `stop` and QEMU's `active` (device state + resume stay 2–15 ms): QEMU's
   * disk step waiting on I/O, most after gigabytes were just written and freed on the same file system
   * (docs/performance.md "Where that step goes at 8 GiB").
   */
  gated: { fixedMs: 7.5, msPerGiB: 0.9 },
} as const;

/**
 * Resident guest RAM from which a snapshot is gated: below it QEMU's walk (≈ 5–8 ms per GiB) is worth
 * little and gets shorter than the start of the gate's writer (perl, a few ms; a lost race costs a
 * second RAM stream).
 */
export const GATE_MIN_RESIDENT_BYTES = 512 * 1024 ** 2;

const GIB = 1024 ** 3;

/** Guest RAM up to which QEMU's walk over 2 MiB-mapped RAM grows linearly (PAUSE_MODEL.hugeMappedBeyondMsPerGiB). */
const HUGE_WALK_LINEAR_GIB = 8;

/** QEMU's walk over `gib` GiB of 2 MiB-mapped guest RAM, inside the pause when not gated. */
function hugeMappedWalkMs(gib: number): number {
  return (
    Math.min(gib, HUGE_WALK_LINEAR_GIB) * PAUSE_MODEL.hugeMappedMsPerGiB +
    Math.max(0, gib - HUGE_WALK_LINEAR_GIB) * PAUSE_MODEL.hugeMappedBeyondMsPerGiB
  );
}

/** QEMU restores the pre-migration run state (paused, by us) from 9.0 on instead of always starting. */
export function qemuResumesByItself(v: QmpVersionTriple): boolean {
  return v.major < 9;
}

export function planConsistentPause(f: PauseFacts): PausePlan {
  const gib = f.memoryBytes / GIB;
  const reasons: string[] = [
    "the guest is paused only while QEMU records the instant: the disks' state is an internal snapshot (metadata only) and the pause-critical commands are sent in one write",
  ];
  const writtenGiB = (f.diskWrittenBytes ?? 0) / GIB;
  const diskMs =
    writtenGiB *
    (f.qemuVersion.major >= 9
      ? PAUSE_MODEL.diskStepMsPerWrittenGiB.from9
      : PAUSE_MODEL.diskStepMsPerWrittenGiB.before9);
  if (diskMs >= 2) {
    reasons.push(
      `the disks hold ${writtenGiB.toFixed(1)} GiB of data: recording their state raises a reference count per written cluster inside the pause (≈ ${Math.round(diskMs)} ms on QEMU ${f.qemuVersion.major}.${f.qemuVersion.minor})`,
    );
  }
  const resume = qemuResumesByItself(f.qemuVersion) ? "qemu" : "cont-after-stream";
  if (resume === "cont-after-stream") {
    reasons.push(
      `QEMU ${f.qemuVersion.major}.${f.qemuVersion.minor} keeps a guest that was paused for the snapshot paused: Snapfleet resumes it as soon as the RAM stream starts`,
    );
  }
  // Expected pauses in whole milliseconds, at least 1.
  const plan = (
    sequence: PausePlan["sequence"],
    memory: MemoryPreparation,
    first: number,
    later: number,
  ): PausePlan => ({
    sequence,
    resume,
    memory,
    expectedPauseMs: { first: Math.max(1, Math.round(first)), later: Math.max(1, Math.round(later)) },
    reasons,
  });
  const fixed = PAUSE_MODEL.fixedMs + diskMs;
  if (gateApplies(f)) {
    reasons.push(
      `QEMU ${f.qemuVersion.major}.${f.qemuVersion.minor} reads every page of guest RAM before it takes its main lock: Snapfleet lets that walk (${gibText(f.residentBytes ?? 0)} resident) run while the guest runs and pauses the guest only once it is done, so the walk (≈ ${PAUSE_MODEL.hugeMappedMsPerGiB} ms per GiB) is not guest pause`,
    );
    const gated = PAUSE_MODEL.gated.fixedMs + gib * PAUSE_MODEL.gated.msPerGiB + diskMs;
    return plan("gated", f.canCollapse ? "collapse" : "none", gated, gated);
  }
  if (f.memoryKind === "anonymous" && gib >= 2) reasons.push(ownersLever(f));
  if (f.memoryKind === "hugetlb") {
    reasons.push(
      "guest RAM is on hugetlb pages: the snapshot never splits them, so every snapshot pauses alike; guest RAM never touched yet is allocated during the first pause",
    );
    return plan("pipelined", "none", fixed + gib * PAUSE_MODEL.hugetlbFirstMsPerGiB, fixed + hugeMappedWalkMs(gib));
  }
  const thp = f.memoryKind === "anonymous" && f.hostThp !== "never" && f.hostThp !== "unknown";
  const firstMs = fixed + (thp ? hugeMappedWalkMs(gib) : gib * PAUSE_MODEL.smallMappedMsPerGiB);
  const smallMs = fixed + gib * PAUSE_MODEL.smallMappedMsPerGiB;
  if (!thp) {
    reasons.push(
      f.memoryKind === "anonymous"
        ? "the host has transparent huge pages off, so guest RAM is mapped by 4 KiB pages and QEMU walks all of them inside every pause (a hugetlb memory backend avoids it)"
        : "guest RAM is shared memory mapped by 4 KiB pages: QEMU walks all of them inside every pause (a hugetlb memory backend avoids it)",
    );
    return plan("pipelined", "none", smallMs, smallMs);
  }
  if (f.canCollapse) {
    reasons.push(
      "after each snapshot Snapfleet merges the guest's RAM back into 2 MiB pages (the snapshot splits them), so every snapshot pauses like the first",
    );
    return plan("pipelined", "collapse", firstMs, firstMs);
  }
  reasons.push(
    "each snapshot splits the guest's 2 MiB pages and Snapfleet cannot merge them back on this host (needs a local host, Linux 6.1+, root), so later snapshots of this QEMU process pause longer",
  );
  return plan("pipelined", "none", firstMs, smallMs);
}

/**
 * Whether a snapshot of this VM is gated (ram-walk-gate.ts): QEMU < 9, enough guest RAM resident, and RAM
 * QEMU walks 4 KiB at a time (anonymous or shared; a hugetlb walk reads one byte per huge page: short).
 */
function gateApplies(f: PauseFacts): boolean {
  const walked = f.memoryKind === "anonymous" || f.memoryKind === "shared";
  return Boolean(f.canGate) && f.qemuVersion.major < 9 && walked && (f.residentBytes ?? 0) >= GATE_MIN_RESIDENT_BYTES;
}

function gibText(bytes: number): string {
  return `${(bytes / GIB).toFixed(1)} GiB`;
}

/** What only the VM's owner can change when the RAM walk stays inside the pause, and what it would bring. */
function ownersLever(f: PauseFacts): string {
  const why =
    f.qemuVersion.major >= 9
      ? `QEMU ${f.qemuVersion.major}.${f.qemuVersion.minor} takes its main lock between its walk over guest RAM and its first write, so Snapfleet cannot let that walk run before the pause: it (≈ ${PAUSE_MODEL.hugeMappedMsPerGiB} ms per GiB) is guest pause`
      : `Snapfleet can take QEMU's RAM walk out of the pause only on local hosts whose QEMU threads it can watch, so here the walk (≈ ${PAUSE_MODEL.hugeMappedMsPerGiB} ms per GiB) is guest pause`;
  return `${why}; what the VM's owner can do: back guest RAM with hugetlb pages and prealloc=on (memory-backend-memfd,hugetlb=on,prealloc=on), which paused an 8 GiB guest 6–30 ms in 5 samples of 6 on QEMU 10 (docs/performance.md)`;
}

/** The VM page's line: "Expected guest pause ≈ 14 ms (later snapshots ≈ 14 ms): <reasons>". */
export function describePausePlan(plan: PausePlan): string {
  const { first, later } = plan.expectedPauseMs;
  const head =
    first === later
      ? `Expected guest pause ≈ ${first} ms`
      : `Expected guest pause ≈ ${first} ms, later snapshots of this QEMU process ≈ ${later} ms`;
  return `${head}: ${plan.reasons.join("; ")}.`;
}

// ---------------------------------------------------------------------------------------------
// Memory preparation decision
// ---------------------------------------------------------------------------------------------

/** What scanning the QEMU process's guest RAM found (collapse helper, "scan"). */
export interface GuestMemoryScan {
  /** Guest RAM mappings found (anonymous, MADV_HUGEPAGE + MADV_DONTFORK: QEMU's RAM blocks). */
  ramBytes: number;
  /** 2 MiB ranges whose 512 pages are all present and distinct (the guest wrote them). */
  populatedBytes: number;
  /** Pages in the other ranges that are absent or map the shared zero page: what "all" would allocate. */
  wouldAllocateBytes: number;
  /** The host's MemAvailable and MemTotal. */
  memAvailableBytes: number;
  memTotalBytes: number;
}

export type CollapseScope = "all" | "populated";

/**
 * Collapse everything when making the never-written guest RAM resident leaves the host at least a fifth
 * of its memory (and 1 GiB) free; otherwise only what the guest already uses, which costs no memory
 * (those never-written ranges then keep costing pause time: see the reasons).
 */
export function planMemoryPreparation(scan: GuestMemoryScan): { scope: CollapseScope; reason: string } {
  const reserve = Math.max(GIB, scan.memTotalBytes * 0.2);
  const mib = (n: number) => `${Math.round(n / 1024 ** 2)} MiB`;
  if (scan.wouldAllocateBytes === 0)
    return { scope: "all", reason: "all guest RAM is in use: collapsing it costs no memory" };
  if (scan.memAvailableBytes - scan.wouldAllocateBytes >= reserve) {
    return {
      scope: "all",
      reason: `collapsing never-written guest RAM makes ${mib(scan.wouldAllocateBytes)} resident; the host keeps ${mib(scan.memAvailableBytes - scan.wouldAllocateBytes)} available`,
    };
  }
  return {
    scope: "populated",
    reason: `only the guest RAM in use is collapsed: making the other ${mib(scan.wouldAllocateBytes)} resident would leave the host under ${mib(reserve)} available`,
  };
}
