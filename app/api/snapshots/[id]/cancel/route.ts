// POST /api/snapshots/{id}/cancel — cancels a queued job at once, or asks the running one to stop
// safely (it lets QEMU finish into a discarding sink, then rolls back): 202 { snapshot }.
// 409 when the snapshot already ended.
import { json, route } from "@/lib/http/respond";
import { requestSnapshotCancel } from "@/lib/snapshots/jobs";
import { idParam } from "@/lib/http/params";

export const dynamic = "force-dynamic";

export const POST = route(async (_req: Request, { params }: { params: Promise<{ id: string }> }) =>
  json({ snapshot: await requestSnapshotCancel(await idParam(params, "snapshot")) }, { status: 202 }),
);
