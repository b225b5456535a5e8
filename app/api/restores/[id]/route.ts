// GET /api/restores/{id} — one rollback or verification (RestoreJson, the shape `restore:<id>` events carry).
import { json, route } from "@/lib/http/respond";
import { getRestore } from "@/lib/restore/jobs";
import { idParam } from "@/lib/http/params";

export const dynamic = "force-dynamic";

export const GET = route(async (_req: Request, { params }: { params: Promise<{ id: string }> }) =>
  json(await getRestore(await idParam(params, "snapshot"))),
);
