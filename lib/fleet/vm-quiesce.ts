// A VM's quiesce setting (Vm.quiesce): whether its snapshots freeze the guest's filesystems through its
// QEMU guest agent by default (lib/snapshots/quiesce.ts; a request or a schedule may ask either way).
// Invariants: only this module writes Vm.quiesce — discovery never does; a change is published as
// `vm.updated` on `vm:<id>` and `fleet`, like a tag change (vm-tags.ts).
import { db } from "../db/client";
import { NotFoundError } from "../errors";
import { publishVm } from "./live-state";
import { FLEET_EVENTS, type VmJson } from "./vm-json";
import { getVmJson } from "./vms";

export async function setVmQuiesce(vmId: string, quiesce: boolean): Promise<VmJson> {
  const { count } = await db().vm.updateMany({ where: { id: vmId }, data: { quiesce } });
  if (count === 0) throw new NotFoundError(`no VM with id ${vmId}`);
  const vm = await getVmJson(vmId);
  await publishVm(FLEET_EVENTS.vmUpdated, vm);
  return vm;
}
