// GET /api/vms/{id}/restores — the VM's rollbacks and verifications, newest first ({ restores }).
import { idParam } from "@/lib/http/params";
import { json, route } from "@/lib/http/respond";
import { listVmRestores } from "@/lib/restore/jobs";

export const dynamic = "force-dynamic";

export const GET = route(async (_req: Request, { params }: { params: Promise<{ id: string }> }) =>
  json({ restores: await listVmRestores(await idParam(params, "VM")) }),
);
