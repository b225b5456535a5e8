// zod schemas for snapshot input, shared by the VM page's "Snapshot now" form and the route handlers.
// Wire names of modes are kebab-case ("ram-only"); the database enum uses snake_case (ram_only):
// toDbMode/fromDbMode are the only places that translate.
import { z } from "zod";

export const SNAPSHOT_MODES = ["live", "ram-only", "disks-only"] as const;
export type SnapshotModeName = (typeof SNAPSHOT_MODES)[number];
export type DbSnapshotMode = "live" | "ram_only" | "disks_only";

export function toDbMode(mode: SnapshotModeName): DbSnapshotMode {
  return mode.replace("-", "_") as DbSnapshotMode;
}
export function fromDbMode(mode: DbSnapshotMode): SnapshotModeName {
  return mode.replace("_", "-") as SnapshotModeName;
}

export const snapshotCreateSchema = z.object({
  mode: z.enum(SNAPSHOT_MODES, { error: 'mode must be "live", "ram-only" or "disks-only"' }).default("live"),
  note: z.string().trim().max(500, "note must be at most 500 characters").optional(),
  /** Freeze the guest's filesystems through its agent (disks-only snapshots; docs/quiesce.md); default: the VM's setting. */
  quiesce: z.boolean({ error: "quiesce must be true or false" }).optional(),
});
export type SnapshotCreateInput = z.infer<typeof snapshotCreateSchema>;

/** How many VMs one "Snapshot now" for a selection may name (the Fleet page's largest page is 200 rows). */
export const SNAPSHOT_BULK_MAX_VMS = 200;

/** POST /api/snapshots/bulk: one job per selected VM, all with the same mode and note. */
export const snapshotBulkCreateSchema = snapshotCreateSchema.extend({
  vmIds: z
    .array(z.uuid({ error: "vmIds must be VM UUIDs" }), { error: "vmIds must be a list of VM UUIDs" })
    .min(1, "pick at least one VM")
    .max(SNAPSHOT_BULK_MAX_VMS, `at most ${SNAPSHOT_BULK_MAX_VMS} VMs per request: split the selection`),
});
export type SnapshotBulkCreateInput = z.infer<typeof snapshotBulkCreateSchema>;

/** Every status of a snapshot job, in the order a job goes through them (transitions: lib/snapshots/state-machine.ts). */
export const SNAPSHOT_STATUSES = [
  "queued",
  "preflight",
  "setup",
  "active",
  "completed",
  "failed",
  "cancelled",
] as const;
export type SnapshotStatusName = (typeof SNAPSHOT_STATUSES)[number];
/** Statuses in which a job holds its VM: a second request for that VM gets 409, retention keeps it, a host with one cannot be removed. */
export const RUNNING_SNAPSHOT_STATUSES: readonly SnapshotStatusName[] = ["queued", "preflight", "setup", "active"];
const uuid = z.uuid({ error: "must be a UUID" });

export const snapshotListQuerySchema = z
  .object({
    vmId: uuid.optional(),
    hostId: uuid.optional(),
    status: z
      .string()
      .transform((s) => s.split(",").filter(Boolean))
      .pipe(z.array(z.enum(SNAPSHOT_STATUSES, { error: `status must be among ${SNAPSHOT_STATUSES.join(", ")}` })))
      .optional(),
    from: z.iso.datetime({ offset: true, error: "from must be an ISO date-time" }).optional(),
    to: z.iso.datetime({ offset: true, error: "to must be an ISO date-time" }).optional(),
    limit: z.coerce.number().int().min(1).max(200).default(50),
    cursor: z.string().max(200).optional(),
  })
  .refine((q) => !q.from || !q.to || new Date(q.from) <= new Date(q.to), { error: "from must not be after to" });
export type SnapshotListQuery = z.infer<typeof snapshotListQuerySchema>;

/** POST /api/vms/{id}/disk-drift/acknowledge: the disk drift findings the operator reviewed, exactly as shown. */
export const diskDriftAcknowledgeSchema = z.object({
  findings: z.array(z.string()).optional(),
});
