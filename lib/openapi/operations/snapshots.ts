// The contract (../registry.ts) of /api/snapshots and /api/restores: snapshot jobs and history, bulk
// batches, and the rollbacks and sandbox verifications of a snapshot.
import { z } from "zod";
import { restoreJsonSchema, rollbackPlanJsonSchema } from "../../restore/restore-json";
import { bulkSnapshotResultJsonSchema, snapshotBatchDetailJsonSchema } from "../../snapshots/batch-json";
import { snapshotJsonSchema, snapshotListJsonSchema } from "../../snapshots/snapshot-json";
import { snapshotBulkCreateSchema, snapshotListQuerySchema } from "../../validations/snapshot";
import { snapshotResultJsonSchema } from "../responses";
import { ok, type OperationTable } from "../operation";

/** `{ restore }` answers of queuing a rollback or a verification. */
const restoreResultSchema = z.object({ restore: restoreJsonSchema });
/** `{ restore }` of a snapshot's latest verification, null when it has none. */
const latestVerificationSchema = z.object({ restore: restoreJsonSchema.nullable() });

export const SNAPSHOT_OPERATIONS = {
  "GET /api/snapshots": {
    tag: "snapshots",
    summary: "Fleet-wide snapshot history",
    description:
      "Newest first, keyset-paginated: pass `nextCursor` back as `cursor` (`null` on the last page; there is no total count).",
    query: snapshotListQuerySchema,
    responses: {
      200: ok("One page of snapshots.", snapshotListJsonSchema),
      422: ok("`cursor` is not one this API returned.", null),
    },
  },
  "POST /api/snapshots/bulk": {
    tag: "snapshots",
    summary: "Snapshot now for a selection of VMs",
    description:
      "One job per VM (a batch), each queued like `POST /api/vms/{id}/snapshots` and admitted under the host and fleet limits. A VM that cannot be snapshotted (raw disk for its mode, busy, shut down, unknown) is refused with its reason without failing the others. Follow the jobs at `GET /api/snapshots/batches/{batch.id}` and on `snapshot:<id>`.",
    body: snapshotBulkCreateSchema,
    responses: {
      202: ok("Every VM was queued.", bulkSnapshotResultJsonSchema),
      207: ok("Some VMs were queued, others refused (`refused[]` with reasons).", bulkSnapshotResultJsonSchema),
      422: ok("No VM could be queued; `details.refused` says why for each.", null),
    },
  },
  "GET /api/snapshots/batches/[id]": {
    tag: "snapshots",
    summary: "A Snapshot now batch and its jobs",
    description:
      "The batch (mode, who asked, the VMs refused and why), every job it queued by VM name, and the running-snapshot limits queued jobs wait under.",
    responses: { 200: ok("The batch and its jobs.", snapshotBatchDetailJsonSchema) },
  },
  "GET /api/snapshots/[id]": {
    tag: "snapshots",
    summary: "One snapshot",
    responses: { 200: ok("The snapshot (the shape `snapshot:<id>` events carry).", snapshotJsonSchema) },
  },
  "DELETE /api/snapshots/[id]": {
    tag: "snapshots",
    summary: "Delete a snapshot",
    description: "Removes exactly what the snapshot created, each piece once proven unused; crash-safe and idempotent.",
    responses: {
      200: ok("The snapshot as deleted.", snapshotResultJsonSchema),
      409: ok(
        "It is running, its VM is busy, its VM's disks drifted unacknowledged, or a step is blocked (reason on the journal).",
        null,
      ),
    },
  },
  "POST /api/snapshots/[id]/cancel": {
    tag: "snapshots",
    summary: "Cancel a snapshot job",
    description:
      "A queued job is cancelled at once; a running one stops safely (QEMU finishes into a discarding sink, then rolls back).",
    responses: {
      202: ok("Cancellation requested.", snapshotResultJsonSchema),
      409: ok("The snapshot already ended.", null),
    },
  },
  "POST /api/snapshots/[id]/force-fail": {
    tag: "snapshots",
    summary: "Fail a job that stays in flight",
    responses: {
      200: ok("The snapshot, failed.", snapshotResultJsonSchema),
      409: ok("The snapshot already ended.", null),
    },
  },
  "GET /api/snapshots/[id]/restore": {
    tag: "restores",
    summary: "The rollback plan",
    description:
      "What is lost and kept, cold boot or RAM state, and — when Snapfleet will not do it — why, with the commands to run by hand.",
    responses: { 200: ok("The plan.", rollbackPlanJsonSchema) },
  },
  "POST /api/snapshots/[id]/restore": {
    tag: "restores",
    summary: "Roll the VM back to the snapshot",
    responses: {
      202: ok("The rollback is queued; follow it on `restore:<id>`.", restoreResultSchema),
      409: ok("A snapshot, rollback or verification of the VM runs.", null),
      422: ok("Refused; `details.refusal` has the reason and the commands.", null),
    },
  },
  "GET /api/snapshots/[id]/verify": {
    tag: "restores",
    summary: "The snapshot's latest verification",
    responses: { 200: ok("The latest verification, or null.", latestVerificationSchema) },
  },
  "POST /api/snapshots/[id]/verify": {
    tag: "restores",
    summary: "Verify the snapshot in a sandbox",
    responses: {
      202: ok("The verification is queued.", restoreResultSchema),
      409: ok("A restore of its VM runs.", null),
      422: ok("It cannot be verified (ram-only, remote host…).", null),
    },
  },
  "GET /api/snapshots/[id]/verify/screenshot": {
    tag: "restores",
    summary: "Console picture of the latest successful verification",
    responses: { 200: { description: "A PNG.", schema: null, contentType: "image/png" } },
  },
  "GET /api/restores/[id]": {
    tag: "restores",
    summary: "One rollback or verification",
    responses: { 200: ok("The restore (the shape `restore:<id>` events carry).", restoreJsonSchema) },
  },
} satisfies OperationTable;
