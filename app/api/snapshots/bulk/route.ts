// POST /api/snapshots/bulk { vmIds[], mode?, note? } — "Snapshot now" for a selection of VMs (operator):
// one job per VM, each queued under the host and fleet limits (lib/snapshots/batches.ts). 202
// { batch, queued, refused: [] } when every VM was queued; 207 with the same body when some were
// refused (each with its reason: raw disk, busy, shut down…); 422 { error, details: { refused } } when
// none was. The batch's jobs are followed at /snapshots/batches/{batch.id}.
import { identityOf } from "@/lib/auth/request";
import { json, parseBody, route } from "@/lib/http/respond";
import { createSnapshotBatch } from "@/lib/snapshots/batches";
import { snapshotBulkCreateSchema } from "@/lib/validations/snapshot";

export const dynamic = "force-dynamic";

export const POST = route(async (req: Request) => {
  const input = await parseBody(req, snapshotBulkCreateSchema);
  const result = await createSnapshotBatch(input, identityOf(req.headers)?.name ?? null);
  return json(result, { status: result.refused.length ? 207 : 202 });
});
