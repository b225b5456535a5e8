// POST /api/vms/{id}/disk-drift/check — re-checks the VM's disks against what its snapshots recorded
// (lib/snapshots/disk-drift.ts checkDiskDrift: its live block graph, nothing changed on the VM) and
// returns the VM as VmJson, `diskDrift` holding the verdict (null: the disks match); a changed verdict is
// published as vm.updated. 503 when the VM cannot be reached: it is not judged, its last verdict stays.
import { idParam } from "@/lib/http/params";
import { getVmJson } from "@/lib/fleet/vms";
import { HttpError, json, route } from "@/lib/http/respond";
import { checkDiskDrift } from "@/lib/snapshots/disk-drift";

export const dynamic = "force-dynamic";

export const POST = route(async (_req: Request, { params }: { params: Promise<{ id: string }> }) => {
  const id = await idParam(params, "VM");
  const vm = await getVmJson(id);
  let why = "";
  const findings = await checkDiskDrift(id).catch((err: unknown) => {
    why = ` (${(err as Error).message})`;
    return null;
  });
  if (findings === null) {
    throw new HttpError(
      503,
      `VM ${vm.name} could not be reached${why}, so its disks were not checked again: the last verdict stays. Retry once the VM responds`,
    );
  }
  return json(await getVmJson(id));
});
