// GET /api/vms/{id} — one VM as lib/fleet/vm-json.ts VmJson (the same shape `vm:<id>` events carry).
// PATCH /api/vms/{id} { tags: string[] } — replaces the VM's tags (operator): 200 { vm }; 400 when the
// body is not that shape, 422 naming the tag rule (lib/validations/vm.ts) when a tag breaks it.
import { idParam } from "@/lib/http/params";
import { setVmTags } from "@/lib/fleet/vm-tags";
import { getVmJson } from "@/lib/fleet/vms";
import { json, parseBody, route } from "@/lib/http/respond";
import { vmUpdateSchema } from "@/lib/validations/vm";

export const dynamic = "force-dynamic";

type Ctx = { params: Promise<{ id: string }> };

export const GET = route(async (_req: Request, { params }: Ctx) => json(await getVmJson(await idParam(params, "VM"))));

export const PATCH = route(async (req: Request, { params }: Ctx) => {
  const id = await idParam(params, "VM");
  const input = await parseBody(req, vmUpdateSchema);
  return json({ vm: await setVmTags(id, input.tags) });
});
