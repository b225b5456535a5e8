// The wire shape of a restore (a rollback of a VM to a snapshot, or a sandbox verification of a
// snapshot): what GET /api/restores/{id} returns and what the hub pushes as "restore.updated" on
// `restore:<id>`, `vm:<id>` and `fleet`. Also the rollback plan the confirmation dialog shows (GET
// /api/snapshots/{id}/restore). Client-safe (zod only).
import { z } from "zod";

export const RESTORE_UPDATED_EVENT = "restore.updated";

export const restoreStatusSchema = z.enum(["queued", "setup", "active", "completed", "failed"]);
export type RestoreStatusName = z.infer<typeof restoreStatusSchema>;

export const restoreJsonSchema = z.object({
  id: z.string(),
  kind: z.enum(["rollback", "verify"]),
  vmId: z.string(),
  vmName: z.string(),
  snapshotId: z.string(),
  status: restoreStatusSchema,
  statusHistory: z.array(z.object({ status: restoreStatusSchema, at: z.string(), detail: z.string().nullable() })),
  /** Rollback: the disks-only snapshot of the VM's disks taken just before the rollback (undo with it). */
  safetySnapshotId: z.string().nullable(),
  /** What the run did: steps, the new QEMU's pid and log file, the sandbox's findings. */
  result: z.record(z.string(), z.unknown()).nullable(),
  hasScreenshot: z.boolean(),
  error: z.object({ class: z.string(), message: z.string() }).nullable(),
  createdAt: z.string(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
});
export type RestoreJson = z.infer<typeof restoreJsonSchema>;

export const restoreListJsonSchema = z.object({ restores: z.array(restoreJsonSchema) });

export const rollbackPlanJsonSchema = z.object({
  snapshotId: z.string(),
  vmId: z.string(),
  vmName: z.string(),
  possible: z.boolean(),
  /** Why Snapfleet will not do it, and what an operator would run instead. */
  refusal: z.object({ reason: z.string(), commands: z.array(z.string()) }).nullable(),
  /** The snapshot's instant. */
  snapshotAt: z.string(),
  /** Guest time discarded if the VM ran since the snapshot (now − snapshot instant). */
  lostGuestMs: z.number(),
  /** Snapshots taken after this one: they stay, and stay restorable. */
  newerSnapshots: z.number(),
  /** disks-only snapshots boot from the disks: the guest's RAM state is not restored. */
  coldBoot: z.boolean(),
  /** The VM has a vmgenid device: it gets a new generation id. */
  vmgenid: z.boolean(),
  disks: z.array(z.object({ image: z.string(), internalSnapshot: z.string() })),
  warnings: z.array(z.string()),
});
export type RollbackPlanJson = z.infer<typeof rollbackPlanJsonSchema>;

export const RESTORE_RUNNING: readonly RestoreStatusName[] = ["queued", "setup", "active"];
export function restoreIsRunning(s: RestoreStatusName): boolean {
  return RESTORE_RUNNING.includes(s);
}
