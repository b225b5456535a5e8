// GET /api/snapshots/{id} — one snapshot (SnapshotJson, the shape `snapshot:<id>` events carry).
// DELETE /api/snapshots/{id} — removes exactly what the snapshot created (its ledger), each piece only once
// proven unused; crash-safe (the row is `deleting` with a journal until done), idempotent (a deleted
// snapshot is returned as it is). 409 while running, while its VM is busy, when the VM's disks drifted
// from the record and nobody confirmed, or when a step is blocked (the reason is on the journal).
import { json, route } from "@/lib/http/respond";
import { deleteSnapshot } from "@/lib/snapshots/deletion";
import { getSnapshot } from "@/lib/snapshots/jobs";
import { idParam } from "@/lib/http/params";
import { logger } from "@/lib/logger";

export const dynamic = "force-dynamic";

type Ctx = { params: Promise<{ id: string }> };

export const GET = route(async (_req: Request, { params }: Ctx) =>
  json(await getSnapshot(await idParam(params, "snapshot"))),
);

export const DELETE = route(async (_req: Request, { params }: Ctx) => {
  const snapshot = await deleteSnapshot(await idParam(params, "snapshot"), {
    log: logger.child({ component: "snapshots" }),
    reason: "deleted by the operator",
  });
  return json({ snapshot });
});
