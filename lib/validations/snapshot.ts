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
});
export type SnapshotCreateInput = z.infer<typeof snapshotCreateSchema>;

const statuses = ["queued", "preflight", "setup", "active", "completed", "failed", "cancelled"] as const;
const uuid = z.uuid({ error: "must be a UUID" });

export const snapshotListQuerySchema = z
  .object({
    vmId: uuid.optional(),
    hostId: uuid.optional(),
    status: z
      .string()
      .transform((s) => s.split(",").filter(Boolean))
      .pipe(z.array(z.enum(statuses, { error: `status must be among ${statuses.join(", ")}` })))
      .optional(),
    from: z.iso.datetime({ offset: true, error: "from must be an ISO date-time" }).optional(),
    to: z.iso.datetime({ offset: true, error: "to must be an ISO date-time" }).optional(),
    limit: z.coerce.number().int().min(1).max(200).default(50),
    cursor: z.string().max(200).optional(),
  })
  .refine((q) => !q.from || !q.to || new Date(q.from) <= new Date(q.to), { error: "from must not be after to" });
export type SnapshotListQuery = z.infer<typeof snapshotListQuerySchema>;
