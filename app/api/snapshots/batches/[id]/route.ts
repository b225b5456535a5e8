// GET /api/snapshots/batches/{id} — a "Snapshot now" for a selection of VMs: the batch (mode, who, the
// VMs refused and why), every job it queued and the limits queued jobs wait under
// (lib/snapshots/batch-json.ts SnapshotBatchDetailJson). Its jobs' changes follow on `fleet`.
import { z } from "zod";
import { NotFoundError } from "@/lib/errors";
import { json, route } from "@/lib/http/respond";
import { getSnapshotBatch } from "@/lib/snapshots/batches";

export const dynamic = "force-dynamic";

export const GET = route(async (_req: Request, { params }: { params: Promise<{ id: string }> }) => {
  const { id } = await params;
  if (!z.uuid().safeParse(id).success) throw new NotFoundError(`no snapshot batch with id ${id}`);
  return json(await getSnapshotBatch(id));
});
