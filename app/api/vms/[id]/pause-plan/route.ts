// GET /api/vms/{id}/pause-plan — the guest pause a consistent (live) snapshot of this VM should cost,
// and why (lib/snapshots/pause-plan.ts, facts from pause-steps.ts), for the VM page. Asks the VM through its one QMP session.
import { db } from "@/lib/db/client";
import { NotFoundError } from "@/lib/errors";
import { idParam } from "@/lib/http/params";
import { getVmSession } from "@/lib/fleet/sessions";
import { json, route } from "@/lib/http/respond";
import { explainPause } from "@/lib/snapshots/pause-steps";

export const dynamic = "force-dynamic";

export const GET = route(async (_req: Request, { params }: { params: Promise<{ id: string }> }) => {
  const id = await idParam(params, "VM");
  const vm = await db().vm.findUnique({ where: { id }, select: { host: { select: { kind: true } } } });
  if (!vm) throw new NotFoundError(`no VM with id ${id}`);
  return json(await explainPause(await getVmSession(id), vm.host.kind));
});
