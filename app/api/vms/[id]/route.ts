// GET /api/vms/{id} — one VM as lib/fleet/vm-json.ts VmJson (the same shape `vm:<id>` events carry).
import { idParam } from "@/lib/fleet/params";
import { getVmJson } from "@/lib/fleet/vms";
import { json, route } from "@/lib/http/respond";

export const dynamic = "force-dynamic";

export const GET = route(async (_req: Request, { params }: { params: Promise<{ id: string }> }) =>
  json(await getVmJson(await idParam(params, "VM"))),
);
