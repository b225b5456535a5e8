// GET /api/snapshots/{id} — one snapshot (SnapshotJson, the shape `snapshot:<id>` events carry).
// DELETE /api/snapshots/{id} — removes its files and merges its disk layers back (409 while running).
import { json, route } from "@/lib/http/respond";
import { deleteSnapshot } from "@/lib/snapshots/delete-snapshot";
import { getSnapshot } from "@/lib/snapshots/jobs";
import { snapshotIdParam } from "@/lib/snapshots/params";
import { logger } from "@/lib/logger";

export const dynamic = "force-dynamic";

type Ctx = { params: Promise<{ id: string }> };

export const GET = route(async (_req: Request, { params }: Ctx) => json(await getSnapshot(await snapshotIdParam(params))));

export const DELETE = route(async (_req: Request, { params }: Ctx) => {
  const snapshot = await deleteSnapshot(await snapshotIdParam(params), { log: logger.child({ component: "snapshots" }), reason: "deleted by the operator" });
  return json({ snapshot });
});
