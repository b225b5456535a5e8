// PUT /api/vms/{id}/quiesce { quiesce: boolean } — whether the VM's snapshots freeze its filesystems
// through its guest agent by default (docs/quiesce.md; operator): 200 { vm }; 400 naming the field when
// the body is not that shape; 404 for an unknown VM.
import { idParam } from "@/lib/http/params";
import { setVmQuiesce } from "@/lib/fleet/vm-quiesce";
import { json, parseBody, route } from "@/lib/http/respond";
import { vmQuiesceUpdateSchema } from "@/lib/validations/vm";

export const dynamic = "force-dynamic";

export const PUT = route(async (req: Request, { params }: { params: Promise<{ id: string }> }) => {
  const id = await idParam(params, "VM");
  const input = await parseBody(req, vmQuiesceUpdateSchema);
  return json({ vm: await setVmQuiesce(id, input.quiesce) });
});
