// POST /api/vms/{id}/disk-drift/acknowledge { findings?: string[] } — an operator reviewed the VM's disk
// drift findings: re-checks them first (checkDiskDrift), then acknowledges them (acknowledgeDiskDrift),
// so deletions of this VM's snapshots that touch disks may go on until a new finding appears. Returns
// the VM as VmJson (`diskDrift.acknowledged` true, or `diskDrift` null when the disks match again) and
// publishes it on `vm:<id>` and `fleet` (vm.updated).
// `findings` is the list the operator was shown: when the re-check finds a different list, nothing is
// acknowledged and the answer is 409 { error, details: { vm } } (review the new list); when there is
// nothing left to acknowledge it answers the VM as is. When the VM cannot be reached it is not
// re-checked, and the findings last recorded are the ones acknowledged.
import { z } from "zod";
import { db } from "@/lib/db/client";
import { ConflictError, NotFoundError } from "@/lib/errors";
import { publishVm } from "@/lib/fleet/live-state";
import { idParam } from "@/lib/fleet/params";
import { FLEET_EVENTS } from "@/lib/fleet/vm-json";
import { getVmJson } from "@/lib/fleet/vms";
import { json, parseBody, route } from "@/lib/http/respond";
import { logger } from "@/lib/logger";
import { acknowledgeDiskDrift, checkDiskDrift } from "@/lib/snapshots/disk-drift";

export const dynamic = "force-dynamic";

const acknowledgeSchema = z.object({
  /** The findings the operator reviewed, exactly as shown. */
  findings: z.array(z.string()).optional(),
});

function sameFindings(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((f, i) => f === b[i]);
}

export const POST = route(async (req: Request, { params }: { params: Promise<{ id: string }> }) => {
  const id = await idParam(params, "VM");
  const input = await parseBody(req, acknowledgeSchema);
  const vm = await db().vm.findUnique({ where: { id }, select: { name: true } });
  if (!vm) throw new NotFoundError(`no VM with id ${id}`);
  const log = logger.child({ component: "disk-drift", vm: id });
  const rechecked = await checkDiskDrift(id).catch((err: unknown) => {
    log.warn({ err }, "re-checking the VM's disks before an acknowledgement failed; the last verdict stays");
    return null;
  });
  const before = await getVmJson(id);
  const current = before.diskDrift?.findings ?? [];
  if (rechecked !== null) await publishVm(FLEET_EVENTS.vmUpdated, before);
  // Nothing open (the disks match again): nothing to acknowledge, deletions are not held back.
  if (!current.length) return json(before);
  if (input.findings && !sameFindings(input.findings, current)) {
    throw new ConflictError(
      `the findings for VM ${vm.name} changed since they were shown: nothing was acknowledged. Review the current list, then confirm again`,
      { vm: before },
    );
  }
  await acknowledgeDiskDrift(id);
  const after = await getVmJson(id);
  log.info({ findings: current, rechecked: rechecked !== null }, "an operator acknowledged the VM's disk drift");
  await publishVm(FLEET_EVENTS.vmUpdated, after);
  return json(after);
});
