// POST /api/vms/{id}/snapshots { mode?, note?, quiesce? } — enqueues a snapshot job: 202 { snapshot } (status
// "queued"); 409 { error, details: { snapshotId } } when the VM already has one in progress.
// GET /api/vms/{id}/snapshots — that VM's history, same query and shape as GET /api/snapshots.
import { idParam } from "@/lib/http/params";
import { json, parseBody, parseQuery, route } from "@/lib/http/respond";
import { createSnapshotJob, listSnapshots } from "@/lib/snapshots/jobs";
import { snapshotCreateSchema, snapshotListQuerySchema } from "@/lib/validations/snapshot";

export const dynamic = "force-dynamic";

type Ctx = { params: Promise<{ id: string }> };

export const POST = route(async (req: Request, { params }: Ctx) => {
  const vmId = await idParam(params, "VM");
  const input = await parseBody(req, snapshotCreateSchema);
  const snapshot = await createSnapshotJob({ vmId, mode: input.mode, note: input.note, quiesce: input.quiesce });
  return json({ snapshot }, { status: 202 });
});

export const GET = route(async (req: Request, { params }: Ctx) => {
  const vmId = await idParam(params, "VM");
  const query = parseQuery(req, snapshotListQuerySchema);
  return json(await listSnapshots({ ...query, vmId }));
});
