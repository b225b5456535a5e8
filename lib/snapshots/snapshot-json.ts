// The wire shape of a snapshot: what GET /api/snapshots/{id} returns, what lists hold, and what the
// hub pushes on `snapshot:<id>` and `vm:<id>` as "snapshot.updated". Zod, so the browser checks every
// payload it receives. Client-safe: imports nothing from the server side. Dates are ISO strings, byte
// counts numbers, modes kebab-case ("ram-only").
import { z } from "zod";
import { SNAPSHOT_MODES, SNAPSHOT_STATUSES } from "../validations/snapshot";

export const SNAPSHOT_UPDATED_EVENT = "snapshot.updated";

export const snapshotStatusSchema = z.enum(SNAPSHOT_STATUSES);

export const snapshotFileJsonSchema = z.object({
  path: z.string(),
  role: z.enum(["vmstate", "disk"]),
  /** For a disk: the QEMU node that held it at the snapshot instant. */
  node: z.string().optional(),
  /** For a disk: its image format (a restore's new top names it as backing format). */
  format: z.string().optional(),
  /** For a disk: the internal qcow2 snapshot inside `path` holding its state at the snapshot instant. */
  internalSnapshot: z.string().optional(),
  sizeBytes: z.number(),
});
export type SnapshotFileJson = z.infer<typeof snapshotFileJsonSchema>;

/** A deletion in progress or stopped (lib/snapshots/deletion.ts): one step per artifact, in order. */
export const snapshotDeletionJsonSchema = z.object({
  startedAt: z.string(),
  /** Why the deletion stopped (a blocked step), while it is stopped. */
  error: z.string().nullable(),
  steps: z.array(
    z.object({
      what: z.string(),
      state: z.enum(["pending", "running", "done", "failed"]),
      note: z.string().nullable(),
    }),
  ),
});

/** Disk layers of a snapshot taken before internal snapshots (external overlays; docs/disk-chains.md). */
export const diskChainEntryJsonSchema = z.object({
  device: z.string(),
  node: z.string(),
  image: z.string(),
  format: z.string(),
  overlay: z.string(),
  overlayNode: z.string(),
});

export const snapshotJsonSchema = z.object({
  id: z.string(),
  vmId: z.string(),
  vmName: z.string(),
  hostId: z.string(),
  hostName: z.string(),
  scheduleId: z.string().nullable(),
  /** The "Snapshot now" selection it was queued with (Fleet page), if any. */
  batchId: z.string().nullable().optional(),
  mode: z.enum(SNAPSHOT_MODES),
  status: snapshotStatusSchema,
  note: z.string().nullable(),
  cancelRequested: z.boolean(),
  /** 0..1 of the RAM stream while active; 1 once completed. */
  progress: z.number(),
  statusHistory: z.array(z.object({ status: snapshotStatusSchema, at: z.string(), detail: z.string().nullable() })),
  createdAt: z.string(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
  deletedAt: z.string().nullable(),
  /** Set while the snapshot is `deleting` (and kept once deleted, as the record of what was removed). */
  deletion: snapshotDeletionJsonSchema.nullable(),
  ramTotalBytes: z.number().nullable(),
  ramTransferredBytes: z.number().nullable(),
  throughputBytesPerSec: z.number().nullable(),
  /** STOP→RESUME from QEMU's event timestamps: what the guest really felt. */
  guestPauseMs: z.number().nullable(),
  /** QEMU's own `downtime` figure (hides the setup pause; shown for comparison). */
  qemuDowntimeMs: z.number().nullable(),
  setupMs: z.number().nullable(),
  totalMs: z.number().nullable(),
  sizeBytes: z.number().nullable(),
  files: z.array(snapshotFileJsonSchema),
  diskChain: z.array(diskChainEntryJsonSchema),
  error: z.object({ class: z.string(), message: z.string() }).nullable(),
  /** Set when a sandbox restore of this snapshot succeeded (lib/restore/verify.ts). */
  verifiedAt: z.string().nullable().optional(),
  /** Why the last sandbox restore failed, in QEMU's words when it refused the vmstate. */
  verifyError: z.string().nullable().optional(),
  /** Asked to freeze the guest's filesystems through its agent (docs/quiesce.md). */
  quiesce: z.boolean().optional(),
  /** Completed with disks: "application" (frozen by the guest agent) or "crash"; null otherwise. */
  consistency: z.enum(["application", "crash"]).nullable().optional(),
  /** When quiesce was asked: what the freeze did, or why the snapshot is crash-consistent. */
  quiesceNote: z.string().nullable().optional(),
});
export type SnapshotJson = z.infer<typeof snapshotJsonSchema>;
export type SnapshotStatusJson = z.infer<typeof snapshotStatusSchema>;

export const snapshotListJsonSchema = z.object({
  snapshots: z.array(snapshotJsonSchema),
  nextCursor: z.string().nullable(),
});
export type SnapshotListJson = z.infer<typeof snapshotListJsonSchema>;
