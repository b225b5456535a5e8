// POST /api/vms/{id}/disk-drift/acknowledge { findings?: string[] } — an operator reviewed the VM's disk
// drift findings (lib/snapshots/disk-drift.ts): they are re-checked first, then acknowledged, so deletions
// of this VM's snapshots that touch disks may go on until a new finding appears. `findings` is the list
// the operator was shown: when it differs from the current one, nothing is acknowledged and the answer
// is 409 { error, details: { vm } }. Returns the VM as VmJson (also published as vm.updated). A VM that
// cannot be reached is not re-checked: the findings last recorded are the ones acknowledged.
import { idParam } from "@/lib/http/params";
import { json, parseBody, route } from "@/lib/http/respond";
import { logger } from "@/lib/logger";
import { acknowledgeDiskDrift, checkDiskDrift } from "@/lib/snapshots/disk-drift";
import { diskDriftAcknowledgeSchema } from "@/lib/validations/snapshot";

export const dynamic = "force-dynamic";

export const POST = route(async (req: Request, { params }: { params: Promise<{ id: string }> }) => {
  const id = await idParam(params, "VM");
  const input = await parseBody(req, diskDriftAcknowledgeSchema);
  await checkDiskDrift(id).catch((err: unknown) =>
    logger
      .child({ component: "disk-drift", vm: id })
      .warn({ err }, "re-checking the VM's disks before an acknowledgement failed; the last verdict stays"),
  );
  return json(await acknowledgeDiskDrift(id, input.findings));
});
