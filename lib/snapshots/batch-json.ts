// The wire shape of a "Snapshot now" for a selection of VMs: what POST /api/snapshots/bulk answers and
// GET /api/snapshots/batches/{id} returns. Zod, so the browser checks what it reads. Client-safe:
// imports nothing from the server side.
import { z } from "zod";
import { SNAPSHOT_MODES } from "../validations/snapshot";
import { snapshotJsonSchema } from "./snapshot-json";

/** A selected VM that was not queued, and why (its own words: raw disk, busy, shut down…). */
export const batchRefusalJsonSchema = z.object({
  vmId: z.string(),
  /** null when no VM has that id. */
  vmName: z.string().nullable(),
  reason: z.string(),
  /** The job already running on that VM, when that was the reason. */
  snapshotId: z.string().optional(),
});
export type BatchRefusalJson = z.infer<typeof batchRefusalJsonSchema>;

export const snapshotBatchJsonSchema = z.object({
  id: z.string(),
  mode: z.enum(SNAPSHOT_MODES),
  note: z.string().nullable(),
  createdBy: z.string().nullable(),
  createdAt: z.string(),
  refused: z.array(batchRefusalJsonSchema),
});
export type SnapshotBatchJson = z.infer<typeof snapshotBatchJsonSchema>;

/** POST /api/snapshots/bulk: the batch, the jobs queued and the VMs refused. */
export const bulkSnapshotResultJsonSchema = z.object({
  batch: snapshotBatchJsonSchema,
  queued: z.array(snapshotJsonSchema),
  refused: z.array(batchRefusalJsonSchema),
});
export type BulkSnapshotResultJson = z.infer<typeof bulkSnapshotResultJsonSchema>;

/** GET /api/snapshots/batches/{id}: the batch, its jobs (by VM name) and the limits queued jobs wait under. */
export const snapshotBatchDetailJsonSchema = z.object({
  batch: snapshotBatchJsonSchema,
  snapshots: z.array(snapshotJsonSchema),
  /** Running-snapshot limits per host of the batch (host id → limit) and for the fleet. */
  limits: z.object({ perHost: z.record(z.string(), z.number()), global: z.number() }),
});
export type SnapshotBatchDetailJson = z.infer<typeof snapshotBatchDetailJsonSchema>;
