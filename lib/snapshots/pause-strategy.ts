// How a consistent (disk + RAM) snapshot keeps the guest's pause short: which sequence to run for a VM,
// the pause to expect and why (planConsistentPause, pure), the pause-critical QMP steps themselves, and
// the host-side memory preparation between snapshots. Evidence and figures: docs/performance.md.
//
// Why the naive sequence pauses long (QEMU 7.2, migration/migration.c bg_migration_thread, ram.c):
// with `stop` → `transaction` → `migrate`, everything QEMU does before its own vm_stop is guest pause:
// our QMP round trips and the overlay file creation, the channel connect, ram_write_tracking_prepare()
// (reads one byte of every 4 KiB guest page) and qemu_savevm_state_setup(); then, after vm_stop, the
// device state and ram_write_tracking_start() (UFFDIO_WRITEPROTECT over all guest RAM). On a first
// snapshot guest RAM is mapped by 2 MiB transparent huge pages and both walks are cheap. The snapshot
// itself then splits every huge-page mapping (7.2 un-protects 4 KiB at a time), so from the second
// snapshot of a QEMU process on, both walks cross 262,144 page-table entries per GiB: measured here,
// that is what makes later snapshots pause 5–20× longer (perf: ram_write_tracking_prepare and
// change_pte_range dominate the pause; AnonHugePages 944 MB → 51 MB after the first snapshot).
//
// The strategy (measured in bench/, see docs/performance.md):
//  1. Overlay images are created (blockdev-create) while the guest still runs; inside the pause QEMU
//     only opens them (blockdev-snapshot-sync, mode "existing").
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
// Invariants: planConsistentPause and planMemoryPreparation are pure; the memory helper only reads
// /proc and issues MADV_COLLAPSE (never changes guest contents) and never throws (it reports).
import { execFile } from "node:child_process";
import { readFile, readdir, readlink } from "node:fs/promises";
import type { QmpClient, QmpEvent, QmpVersionTriple } from "../qmp";

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
}

export type MemoryPreparation = "collapse" | "none";

export interface PausePlan {
  /** Always pipelined with pre-created overlays: there is no case where the naive sequence is better. */
  sequence: "pipelined";
  /** Who resumes the guest after QEMU saved the device state. */
  resume: "qemu" | "cont-after-stream";
  memory: MemoryPreparation;
  /** Expected guest pause (QMP STOP→RESUME) on the reference machine, first and later snapshots. */
  expectedPauseMs: { first: number; later: number };
  /** One sentence per decision, for the VM page. */
  reasons: string[];
}

/**
 * Per-GiB and fixed costs of the pause measured by `npm run bench -- pause` on the reference machine
 * (2 vCPUs, TCG, loaded; docs/performance.md). A model for the VM page, not a promise: a busier host
 * stretches every figure.
 */
export const PAUSE_MODEL = {
  /** Pipelined QMP, opening the overlays, connect, device state: independent of RAM size. */
  fixedMs: 8,
  /** Page-table walks over RAM mapped by 2 MiB pages (first snapshot, or after a collapse): 1 GiB paused 13–18 ms in all. */
  hugeMappedMsPerGiB: 6,
  /** The same walks over RAM mapped by 4 KiB pages (later snapshots without collapse): +15–20 ms/GiB at load 1–3, +60–80 at load 5–8. */
  smallMappedMsPerGiB: 40,
  /** hugetlb, first snapshot: never-touched huge pages are allocated and zeroed inside the pause (worst case: none touched yet). */
  hugetlbFirstMsPerGiB: 2000,
} as const;

const GIB = 1024 ** 3;

/** QEMU restores the pre-migration run state (paused, by us) from 9.0 on instead of always starting. */
export function qemuResumesByItself(v: QmpVersionTriple): boolean {
  return v.major < 9;
}

export function planConsistentPause(f: PauseFacts): PausePlan {
  const gib = f.memoryBytes / GIB;
  const reasons: string[] = [
    "the guest is paused only while QEMU records the instant: overlays are prepared beforehand and the pause-critical commands are sent in one write",
  ];
  const resume = qemuResumesByItself(f.qemuVersion) ? "qemu" : "cont-after-stream";
  if (resume === "cont-after-stream") {
    reasons.push(
      `QEMU ${f.qemuVersion.major}.${f.qemuVersion.minor} keeps a guest that was paused for the snapshot paused: Snapfleet resumes it as soon as the RAM stream starts`,
    );
  }
  const round = (ms: number) => Math.max(1, Math.round(ms));
  const fixed = PAUSE_MODEL.fixedMs;
  if (f.memoryKind === "hugetlb") {
    reasons.push(
      "guest RAM is on hugetlb pages: the snapshot never splits them, so every snapshot pauses alike; guest RAM never touched yet is allocated during the first pause",
    );
    return {
      sequence: "pipelined",
      resume,
      memory: "none",
      expectedPauseMs: { first: round(fixed + gib * PAUSE_MODEL.hugetlbFirstMsPerGiB), later: round(fixed + gib * PAUSE_MODEL.hugeMappedMsPerGiB) },
      reasons,
    };
  }
  const thp = f.memoryKind === "anonymous" && f.hostThp !== "never" && f.hostThp !== "unknown";
  const firstMs = fixed + gib * (thp ? PAUSE_MODEL.hugeMappedMsPerGiB : PAUSE_MODEL.smallMappedMsPerGiB);
  const smallMs = fixed + gib * PAUSE_MODEL.smallMappedMsPerGiB;
  if (!thp) {
    reasons.push(
      f.memoryKind === "anonymous"
        ? "the host has transparent huge pages off, so guest RAM is mapped by 4 KiB pages and QEMU walks all of them inside every pause (a hugetlb memory backend avoids it)"
        : "guest RAM is shared memory mapped by 4 KiB pages: QEMU walks all of them inside every pause (a hugetlb memory backend avoids it)",
    );
    return { sequence: "pipelined", resume, memory: "none", expectedPauseMs: { first: round(smallMs), later: round(smallMs) }, reasons };
  }
  if (f.canCollapse) {
    reasons.push(
      "after each snapshot Snapfleet merges the guest's RAM back into 2 MiB pages (the snapshot splits them), so every snapshot pauses like the first",
    );
    return { sequence: "pipelined", resume, memory: "collapse", expectedPauseMs: { first: round(firstMs), later: round(firstMs) }, reasons };
  }
  reasons.push(
    "each snapshot splits the guest's 2 MiB pages and Snapfleet cannot merge them back on this host (needs a local host, Linux 6.1+, root), so later snapshots of this QEMU process pause longer",
  );
  return { sequence: "pipelined", resume, memory: "none", expectedPauseMs: { first: round(firstMs), later: round(smallMs) }, reasons };
}

/** The VM page's line: "Expected guest pause ≈ 14 ms (later snapshots ≈ 14 ms): <reasons>". */
export function describePausePlan(plan: PausePlan): string {
  const { first, later } = plan.expectedPauseMs;
  const head = first === later ? `Expected guest pause ≈ ${first} ms` : `Expected guest pause ≈ ${first} ms, later snapshots of this QEMU process ≈ ${later} ms`;
  return `${head}: ${plan.reasons.join("; ")}.`;
}

/** For the VM page: the plan for this VM right now and its one-sentence explanation. */
export async function explainPause(qmp: QmpClient, hostKind: "local" | "ssh" | "tls"): Promise<{ plan: PausePlan; text: string }> {
  const plan = planConsistentPause(await detectPauseFacts(qmp, hostKind));
  return { plan, text: describePausePlan(plan) };
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
  if (scan.wouldAllocateBytes === 0) return { scope: "all", reason: "all guest RAM is in use: collapsing it costs no memory" };
  if (scan.memAvailableBytes - scan.wouldAllocateBytes >= reserve) {
    return { scope: "all", reason: `collapsing never-written guest RAM makes ${mib(scan.wouldAllocateBytes)} resident; the host keeps ${mib(scan.memAvailableBytes - scan.wouldAllocateBytes)} available` };
  }
  return {
    scope: "populated",
    reason: `only the guest RAM in use is collapsed: making the other ${mib(scan.wouldAllocateBytes)} resident would leave the host under ${mib(reserve)} available`,
  };
}

// ---------------------------------------------------------------------------------------------
// The pause-critical QMP sequence
// ---------------------------------------------------------------------------------------------

/** A disk to layer: its current top node and file. */
export interface LayerTarget {
  node: string;
  file: string;
  format: string;
  virtualSize: number;
  /** Where the new overlay goes and its node name. */
  overlayPath: string;
  overlayNode: string;
}

const JOB_TIMEOUT_MS = 60_000;

async function runCreateJob(qmp: QmpClient, jobId: string, options: Record<string, unknown>): Promise<void> {
  const concluded = qmp.waitForEvent("JOB_STATUS_CHANGE", {
    predicate: (e: QmpEvent) => (e.data as { id?: string; status?: string }).id === jobId && (e.data as { status?: string }).status === "concluded",
    timeoutMs: JOB_TIMEOUT_MS,
  });
  await qmp.execute("blockdev-create", { "job-id": jobId, options });
  await concluded;
  const job = (await qmp.queryJobs()).find((j) => j.id === jobId);
  await qmp.jobDismiss(jobId);
  if (job?.error) throw new Error(`blockdev-create ${String(options.driver)}: ${job.error}`);
}

/**
 * Creates each overlay image (qcow2 whose header names the disk's current image as backing, absolute
 * path) while the guest runs; the pause then only opens it (`blockdev-snapshot-sync` mode "existing").
 * The file node used for the creation is removed again: the overlay node QEMU opens in the transaction
 * is an implicit one, exactly as with a newly created overlay, so later block-commits drop it as
 * before (a node added with blockdev-add would outlive its commit and keep its backing busy).
 * On failure nothing stays attached; the caller removes the files.
 */
export async function prepareOverlays(qmp: QmpClient, targets: LayerTarget[]): Promise<void> {
  for (const [i, t] of targets.entries()) {
    const fileNode = `${t.overlayNode}f`;
    await runCreateJob(qmp, `${t.overlayNode}c${i}`, { driver: "file", filename: t.overlayPath, size: 0 });
    await qmp.execute("blockdev-add", { driver: "file", "node-name": fileNode, filename: t.overlayPath });
    try {
      await runCreateJob(qmp, `${t.overlayNode}q${i}`, {
        driver: "qcow2",
        file: fileNode,
        size: t.virtualSize,
        "backing-file": t.file,
        "backing-fmt": t.format,
      });
    } finally {
      await qmp.execute("blockdev-del", { "node-name": fileNode });
    }
  }
}

export interface LayerAndStreamResult {
  stopped: boolean;
  /** Error of each step, undefined when it succeeded (or was not sent). */
  stopError?: unknown;
  transactionError?: unknown;
  migrateError?: unknown;
}

/**
 * The pause: `stop` (unless the VM is already paused), one `transaction` opening the prepared overlays
 * (blockdev-snapshot-sync, mode "existing": no file is created inside the pause), and `migrate` —
 * written back to back, so QEMU runs them with no dashboard
 * round trip in between (QMP executes in-band commands in order). Listen for STOP/RESUME/MIGRATION
 * before calling. When `migrate` was accepted but the transaction failed, the stream must be discarded
 * (never cancelled on 7.2); when `migrate` failed, the caller must `cont` a guest it stopped.
 */
export async function layerAndStream(
  qmp: QmpClient,
  opts: { targets: LayerTarget[]; uri?: string; stop: boolean; timeoutMs?: number },
): Promise<LayerAndStreamResult> {
  const o = { timeoutMs: opts.timeoutMs ?? 30_000 };
  const settle = (p: Promise<unknown>) => p.then(() => undefined, (err: unknown) => err ?? new Error("failed"));
  const stop = opts.stop ? settle(qmp.execute("stop", undefined, o)) : Promise.resolve(undefined);
  const transaction = opts.targets.length
    ? settle(
        qmp.execute(
          "transaction",
          {
            actions: opts.targets.map((t) => ({
              type: "blockdev-snapshot-sync",
              data: { "node-name": t.node, "snapshot-file": t.overlayPath, "snapshot-node-name": t.overlayNode, format: "qcow2", mode: "existing" },
            })),
          },
          o,
        ),
      )
    : Promise.resolve(undefined);
  // disks-only: no stream; the caller resumes the guest with `cont`.
  const migrate = opts.uri === undefined ? Promise.resolve(undefined) : settle(qmp.execute("migrate", { uri: opts.uri }, o));
  const [stopError, transactionError, migrateError] = await Promise.all([stop, transaction, migrate]);
  return { stopped: opts.stop && !stopError, stopError, transactionError, migrateError };
}

/**
 * Bytes the vmstate stream must have carried before a `cont` is safe on QEMU ≥ 9.0: the header and
 * setup sections are a few KiB and are written before QEMU stops the VM; RAM pages only after the
 * device state is saved (into a side buffer) and write tracking is on. 64 KiB can only be RAM data.
 */
export const RESUME_AFTER_STREAM_BYTES = 64 * 1024;

/**
 * QEMU ≥ 9.0 only (see header, point 4): resumes a guest Snapfleet paused once QEMU's query-migrate
 * shows RAM streaming (ram.transferred ≥ RESUME_AFTER_STREAM_BYTES), polling fast so the pause stays
 * short. Returns false when the migration ended or the deadline passed without it (the caller then
 * resumes the guest in its cleanup). `npm test` runs the snapshot tests on QEMU 10 for this path
 * (scripts/ensure-qemu-backports.sh).
 */
export async function resumeWhenStreaming(qmp: QmpClient, opts: { pollMs?: number; deadlineMs?: number } = {}): Promise<boolean> {
  const deadline = Date.now() + (opts.deadlineMs ?? 30_000);
  while (Date.now() < deadline) {
    const info = await qmp.queryMigrate();
    if (info.status === "active" && (info.ram?.transferred ?? 0) >= RESUME_AFTER_STREAM_BYTES) {
      await qmp.cont();
      return true;
    }
    if (info.status === "completed" || info.status === "failed" || info.status === "cancelled") return false;
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 5));
  }
  return false;
}

/**
 * The facts planConsistentPause needs, from QMP (query-memdev, qom-get of the backends' hugetlb/share)
 * and, for local hosts, the host's THP setting and whether Snapfleet can collapse this QEMU's RAM.
 * Never throws: what cannot be read is "unknown" / false.
 */
export async function detectPauseFacts(qmp: QmpClient, hostKind: "local" | "ssh" | "tls"): Promise<PauseFacts & { pid?: number }> {
  const memoryBytes = await qmp.queryMemorySizeSummary().then((m) => m["base-memory"], () => 0);
  let memoryKind: GuestMemoryKind = "unknown";
  try {
    const memdevs = await qmp.execute<Array<{ id?: string; size: number }>>("query-memdev");
    if (memdevs.length === 0) memoryKind = "anonymous"; // plain -m: anonymous private RAM
    else {
      const kinds = await Promise.all(
        memdevs.map(async (m) => {
          const prop = (name: string) => qmp.execute<boolean>("qom-get", { path: `/objects/${m.id}`, property: name }).catch(() => undefined);
          if ((await prop("hugetlb")) === true) return "hugetlb";
          if ((await prop("share")) === true) return "shared";
          return "anonymous";
        }),
      );
      memoryKind = kinds.includes("hugetlb") ? "hugetlb" : kinds.includes("shared") ? "shared" : "anonymous";
    }
  } catch {
    // query-memdev missing: keep unknown
  }
  const local = hostKind === "local" && qmp.endpoint.kind === "unix";
  const host = local ? await readHostMemoryFacts() : undefined;
  const pid = local ? await findListenerPid((qmp.endpoint as { path: string }).path) : undefined;
  return {
    qemuVersion: qmp.greeting.version.qemu,
    memoryBytes,
    memoryKind,
    hostThp: host?.thp ?? "unknown",
    canCollapse: Boolean(host && pid && collapseSupported(host) && memoryKind === "anonymous"),
    pid,
  };
}

// ---------------------------------------------------------------------------------------------
// Host side: QEMU's pid and guest-memory collapse (local hosts)
// ---------------------------------------------------------------------------------------------

/** The pid of the process listening on a unix socket (QEMU's QMP socket), via /proc/net/unix. */
export async function findListenerPid(socketPath: string): Promise<number | undefined> {
  const table = await readFile("/proc/net/unix", "utf8").catch(() => "");
  // Num RefCount Protocol Flags Type St Inode Path; flags 00010000 = __SO_ACCEPTCON (listening).
  const inodes = new Set<string>();
  for (const line of table.split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length >= 8 && f.slice(7).join(" ") === socketPath && (parseInt(f[3], 16) & 0x10000) !== 0) inodes.add(f[6]);
  }
  if (!inodes.size) return undefined;
  for (const entry of await readdir("/proc").catch(() => [] as string[])) {
    if (!/^\d+$/.test(entry)) continue;
    const fds = await readdir(`/proc/${entry}/fd`).catch(() => [] as string[]);
    for (const fd of fds) {
      const link = await readlink(`/proc/${entry}/fd/${fd}`).catch(() => "");
      const m = /^socket:\[(\d+)\]$/.exec(link);
      if (m && inodes.has(m[1])) return Number(entry);
    }
  }
  return undefined;
}

/** Host facts for planConsistentPause. */
export async function readHostMemoryFacts(): Promise<{ thp: PauseFacts["hostThp"]; kernel: [number, number]; root: boolean; perl: boolean }> {
  const thpRaw = await readFile("/sys/kernel/mm/transparent_hugepage/enabled", "utf8").catch(() => "");
  const thp = (/\[(always|madvise|never)\]/.exec(thpRaw)?.[1] ?? "unknown") as PauseFacts["hostThp"];
  const release = await readFile("/proc/sys/kernel/osrelease", "utf8").catch(() => "0.0");
  const [maj, min] = release.split(".").map((n) => parseInt(n, 10));
  const perl = await new Promise<boolean>((resolve) => execFile("perl", ["-e", "1"], (err) => resolve(!err)));
  return { thp, kernel: [maj || 0, min || 0], root: process.getuid?.() === 0, perl };
}

export function collapseSupported(host: { kernel: [number, number]; root: boolean; perl: boolean }): boolean {
  const [maj, min] = host.kernel;
  return host.root && host.perl && (maj > 6 || (maj === 6 && min >= 1));
}

export interface CollapseReport {
  ok: boolean;
  scope?: CollapseScope;
  scan?: GuestMemoryScan;
  collapsedBytes: number;
  ms: number;
  reason: string;
}

/**
 * The helper, in perl (part of every Debian host: perl-base is Essential) because Node cannot issue
 * pidfd_open(434) / process_madvise(440). Guest RAM = anonymous rw-p mappings flagged `hg` (QEMU's
 * MADV_HUGEPAGE) and `dc` (MADV_DONTFORK), which is how QEMU maps RAM blocks. Per 2 MiB range it reads
 * /proc/<pid>/pagemap: populated = 512 present pages with distinct frame numbers (the zero page and
 * KSM pages repeat). "scan" prints the figures; "collapse <all|populated>" issues MADV_COLLAPSE (25).
 */
const COLLAPSE_HELPER = String.raw`
use strict; use warnings; no warnings 'portable';
use Time::HiRes qw(time);
my ($pid, $cmd, $scope) = @ARGV;
die "usage: <pid> scan|collapse [all|populated]\n" unless defined $pid && $pid =~ /^\d+$/ && defined $cmd;
my $t0 = time; my $PMD = 2097152;
open(my $sm, "<", "/proc/$pid/smaps") or die "cannot read /proc/$pid/smaps: $!\n";
my (@vmas, $cur);
while (<$sm>) {
  if (/^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ (\d+)\s*(.*)$/) { $cur = { lo => hex($1), hi => hex($2), perms => $3, inode => $4, path => $5 }; push @vmas, $cur }
  elsif (/^VmFlags:(.*)$/ && $cur) { $cur->{flags} = " $1 " }
}
close $sm;
my @ram = grep { $_->{perms} eq "rw-p" && $_->{inode} == 0 && $_->{path} eq "" && ($_->{flags} // "") =~ / dc / && $_->{flags} =~ / hg / } @vmas;
open(my $pm, "<:raw", "/proc/$pid/pagemap") or die "cannot read /proc/$pid/pagemap: $!\n";
my ($ramBytes, $pop, $alloc, $done, @err) = (0, 0, 0, 0);
my $pidfd = -1;
if ($cmd eq "collapse") { $pidfd = syscall(434, $pid + 0, 0); die "pidfd_open: $!\n" if $pidfd < 0 }
for my $v (@ram) {
  my $lo = int(($v->{lo} + $PMD - 1) / $PMD) * $PMD; my $hi = int($v->{hi} / $PMD) * $PMD;
  next if $hi <= $lo;
  $ramBytes += $hi - $lo;
  sysseek($pm, ($lo / 4096) * 8, 0) or die "pagemap seek: $!\n";
  my $want = (($hi - $lo) / 4096) * 8; my $buf = "";
  while (length($buf) < $want) { my $n = sysread($pm, $buf, $want - length($buf), length($buf)); die "pagemap read: $!\n" unless $n }
  my @e = unpack("Q<*", $buf);
  for (my $c = 0; $c < @e; $c += 512) {
    my ($missing, %seen) = (0);
    for my $i ($c .. $c + 511) {
      my $x = $e[$i]; my $pfn = $x & 0x7FFFFFFFFFFFFF;
      die "frame numbers unreadable (needs root)\n" if (($x >> 63) & 1) && $pfn == 0;
      $missing++ if !(($x >> 63) & 1) || $seen{$pfn}++;
    }
    my $a = $lo + ($c / 512) * $PMD;
    if ($missing == 0) { $pop += $PMD } else { $alloc += $missing * 4096 }
    next unless $cmd eq "collapse" && ($missing == 0 || ($scope // "") eq "all");
    # One range per call: process_madvise stops at the first range that fails.
    my $n = syscall(440, $pidfd, pack("Q<Q<", $a, $PMD), 1, 25, 0);
    if ($n < 0) { push @err, sprintf("%x: %s", $a, $!) if @err < 8 } else { $done += $n }
  }
}
my ($avail, $total) = (0, 0);
if (open(my $mi, "<", "/proc/meminfo")) { while (<$mi>) { $avail = $1 * 1024 if /^MemAvailable:\s+(\d+)/; $total = $1 * 1024 if /^MemTotal:\s+(\d+)/ } }
printf("{\"ramBytes\":%d,\"populatedBytes\":%d,\"wouldAllocateBytes\":%d,\"memAvailableBytes\":%d,\"memTotalBytes\":%d,\"collapsedBytes\":%d,\"errors\":[%s],\"ms\":%.1f}\n",
  $ramBytes, $pop, $alloc, $avail, $total, $done, join(",", map { "\"$_\"" } @err), (time - $t0) * 1000);
`;

interface HelperOutput extends GuestMemoryScan {
  collapsedBytes: number;
  errors: string[];
  ms: number;
}

function runHelper(args: string[], timeoutMs: number): Promise<HelperOutput> {
  return new Promise((resolve, reject) => {
    execFile("perl", ["-e", COLLAPSE_HELPER, ...args], { timeout: timeoutMs, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(stderr.trim() || err.message));
      try {
        resolve(JSON.parse(stdout) as HelperOutput);
      } catch {
        reject(new Error(`unexpected helper output: ${stdout.slice(0, 200)}`));
      }
    });
  });
}

/**
 * Collapses QEMU's guest RAM back into 2 MiB pages after a snapshot completed (never during one: the
 * RAM is write-protected then). `scope` overrides planMemoryPreparation (benchmarks). Never throws.
 */
export async function recollapseGuestMemory(pid: number, opts: { scope?: CollapseScope; timeoutMs?: number } = {}): Promise<CollapseReport> {
  const started = performance.now();
  const timeoutMs = opts.timeoutMs ?? 60_000;
  try {
    const scan = await runHelper([String(pid), "scan"], timeoutMs);
    const decided = opts.scope ? { scope: opts.scope, reason: `scope ${opts.scope} requested` } : planMemoryPreparation(scan);
    const out = await runHelper([String(pid), "collapse", decided.scope], timeoutMs);
    const ok = out.errors.length === 0;
    return {
      ok,
      scope: decided.scope,
      scan,
      collapsedBytes: out.collapsedBytes,
      ms: performance.now() - started,
      reason: ok ? decided.reason : `${decided.reason}; some ranges were not collapsed: ${out.errors.slice(0, 3).join(", ")}`,
    };
  } catch (err) {
    return { ok: false, collapsedBytes: 0, ms: performance.now() - started, reason: `collapse not done: ${(err as Error).message}` };
  }
}
