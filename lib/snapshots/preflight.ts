// Preflight of a snapshot: everything that can be checked BEFORE the VM is touched, each refusal saying
// what is wrong and what to do. Runs only queries (no capability change, no file left behind): a
// refused snapshot leaves the VM and the host exactly as they were.
// Checks (QEMU.md §1, §2, §5): a mode the host kind can give (lib/fleet/host-capabilities.ts); VM running or paused; no migration or
// snapshot in flight (QEMU runs one at a time); background snapshot available and no incompatible
// capability on (live, ram-only); no block job on the disks; a writable disk for disks-only, and every
// writable disk qcow2 (its snapshot lives inside the image: docs/disk-chains.md); target
// directory present, writable and with free space ≥ guest RAM + margin (a full disk mid-stream is
// survivable thanks to the sink, but it wastes the whole run).
import type { HostFiles } from "../fleet/host-files";
import { hostModeBlocker } from "../fleet/host-capabilities";
import { diskSnapshotBlocker } from "../fleet/vm-json";
import type { QmpClient, QmpVersionTriple } from "../qmp";
import { incompatibleCapabilitiesOn } from "../qmp/capabilities";
import type { MigrationCapabilityStatus, MigrationStatus } from "../qmp/types";
import type { SnapshotModeName } from "../validations/snapshot";
import { writableDisks, type WritableDisk } from "./disk-chain";

/** A snapshot that must not start; the message is for the operator. */
export class SnapshotRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SnapshotRefusedError";
  }
}

const MIGRATION_IDLE: ReadonlySet<MigrationStatus | undefined> = new Set([
  undefined,
  "none",
  "completed",
  "failed",
  "cancelled",
]);

/**
 * Room kept for the guest's disk writes (copy-on-write after a snapshot grows its images, which may share
 * the file system) and file-system slack.
 */
export function diskWriteRoomBytes(memoryBytes: number): number {
  return Math.max(64 * 1024 * 1024, Math.ceil(memoryBytes * 0.05));
}

/** Free space a snapshot needs: the vmstate's worst case (all of RAM) plus room for the disk writes. */
export function requiredFreeBytes(mode: SnapshotModeName, memoryBytes: number): number {
  const margin = diskWriteRoomBytes(memoryBytes);
  return mode === "disks-only" ? margin : memoryBytes + margin;
}

export interface PreflightInput {
  qmp: QmpClient;
  mode: SnapshotModeName;
  hostKind: "local" | "ssh" | "tls";
  /** null: the host gives no file access (TLS: QMP only), so only disks-only (internal snapshots) is possible. */
  hostFiles: Pick<HostFiles, "kind" | "assertWritableDir" | "freeBytes"> | null;
  /** The host's snapshot directory (the VM's and the snapshot's sub-directories are created later). */
  snapshotRoot: string;
  /** Discovery's verdict when a background snapshot is impossible (VFIO, shared memory…). */
  bgSnapshotBlocker?: string | null;
}

export interface PreflightReport {
  qemuVersion: QmpVersionTriple;
  runState: "running" | "paused";
  memoryBytes: number;
  /** Disks the snapshot will layer (empty for ram-only). */
  disks: WritableDisk[];
  /** Capabilities as found, to put back afterwards. */
  capabilities: MigrationCapabilityStatus[];
  freeBytes: number;
  requiredBytes: number;
}

const gib = (n: number) => `${(n / 1024 ** 3).toFixed(2)} GiB`;
const version = (v: QmpVersionTriple) => `${v.major}.${v.minor}.${v.micro}`;

export async function preflightSnapshot(input: PreflightInput): Promise<PreflightReport> {
  const { qmp, mode } = input;
  const qv = qmp.greeting.version.qemu;
  // The same verdict the API gave before queueing (host-capabilities.ts); checked again in case the
  // host or QEMU changed since.
  const hostBlocker = hostModeBlocker(input.hostKind, mode, `${qv.major}.${qv.minor}.${qv.micro}`);
  if (hostBlocker) throw new SnapshotRefusedError(hostBlocker);
  if (mode !== "disks-only" && !input.hostFiles)
    throw new SnapshotRefusedError("this host gives no access to its files: only a disks-only snapshot is possible");

  const status = await qmp.queryStatus();
  if (status.status !== "running" && status.status !== "paused") {
    throw new SnapshotRefusedError(`the VM is ${status.status}: only a running or paused VM can be snapshotted`);
  }
  const qemuVersion = qmp.greeting.version.qemu;
  const ramNeeded = mode !== "disks-only";

  const migration = await qmp.queryMigrate();
  if (!MIGRATION_IDLE.has(migration.status)) {
    throw new SnapshotRefusedError(
      `a migration or snapshot is already in progress on this VM (QEMU reports "${migration.status}"); QEMU runs one at a time — wait for it to finish`,
    );
  }

  const capabilities = await qmp.queryMigrateCapabilities();
  if (ramNeeded) {
    if (!capabilities.some((c) => c.capability === "background-snapshot")) {
      throw new SnapshotRefusedError(
        `QEMU ${version(qemuVersion)} cannot take a background snapshot (QEMU 6.0 or later is needed): take a disks-only snapshot instead`,
      );
    }
    if (input.bgSnapshotBlocker) {
      throw new SnapshotRefusedError(
        `a live RAM snapshot is impossible for this VM: ${input.bgSnapshotBlocker}. Take a disks-only snapshot instead`,
      );
    }
    const on = incompatibleCapabilitiesOn(capabilities);
    if (on.length) {
      throw new SnapshotRefusedError(
        `migration capabilit${on.length > 1 ? "ies" : "y"} ${on.join(", ")} ${on.length > 1 ? "are" : "is"} on and cannot be combined with a background snapshot: turn ${on.length > 1 ? "them" : "it"} off (migrate-set-capabilities) and retry`,
      );
    }
  }

  const disks = mode === "ram-only" ? [] : writableDisks(await qmp.queryBlock());
  if (mode === "disks-only" && disks.length === 0) {
    throw new SnapshotRefusedError(
      "this VM has no writable disk: a disks-only snapshot would hold nothing (take a ram-only snapshot)",
    );
  }
  const blocker = diskSnapshotBlocker(disks.map((d) => ({ ...d, writable: true })));
  if (blocker) throw new SnapshotRefusedError(`a ${mode} snapshot is impossible: ${blocker}`);
  if (disks.length) {
    const jobs = await qmp.queryBlockJobs();
    if (jobs.length) {
      throw new SnapshotRefusedError(
        `a block job is running on this VM (${jobs.map((j) => `${j.type} ${j.device}`).join(", ")}): wait for it to finish`,
      );
    }
  }

  const memoryBytes = (await qmp.queryMemorySizeSummary())["base-memory"];
  const requiredBytes = requiredFreeBytes(mode, memoryBytes);
  // A host without file access (TLS: QMP only) takes disks-only snapshots inside its images: no directory.
  if (!input.hostFiles)
    return { qemuVersion, runState: status.status, memoryBytes, disks, capabilities, freeBytes: 0, requiredBytes: 0 };
  try {
    await input.hostFiles.assertWritableDir(input.snapshotRoot);
  } catch (err) {
    throw new SnapshotRefusedError(
      `the snapshot directory cannot be used: ${(err as Error).message}. Fix it in Settings → Hosts`,
    );
  }
  const freeBytes = await input.hostFiles.freeBytes(input.snapshotRoot);
  if (freeBytes < requiredBytes) {
    throw new SnapshotRefusedError(
      `only ${gib(freeBytes)} free in ${input.snapshotRoot}; this snapshot needs at least ${gib(requiredBytes)}` +
        (ramNeeded ? ` (guest RAM ${gib(memoryBytes)} + margin)` : "") +
        ": free space or delete old snapshots",
    );
  }

  return {
    qemuVersion,
    runState: status.status,
    memoryBytes,
    disks,
    capabilities,
    freeBytes,
    requiredBytes,
  };
}
