// A VM's tags: operator-set labels (Vm.tags) that the Fleet page filters by and schedule selectors
// match (lib/schedule-rules/targets.ts). Invariants: only this module writes Vm.tags — discovery never
// does (its updates carry QEMU's facts only, lib/fleet/discovery.ts detailsOf) — and every list stored
// follows vmTagsSchema's rule (lib/validations/vm.ts). A change is published as `vm.updated` on
// `vm:<id>` and `fleet`, so open Fleet and VM pages show it without a reload.
import { db } from "../db/client";
import { InvalidInputError, NotFoundError } from "../errors";
import { vmTagsSchema } from "../validations/vm";
import { publishVm } from "./live-state";
import { FLEET_EVENTS, type VmJson } from "./vm-json";
import { getVmJson } from "./vms";

/** Replaces the VM's tags; a list breaking the rule is refused (InvalidInputError naming the rule). */
export async function setVmTags(vmId: string, tags: readonly string[]): Promise<VmJson> {
  const parsed = vmTagsSchema.safeParse(tags);
  if (!parsed.success) {
    throw new InvalidInputError(parsed.error.issues.map((i) => i.message).join("; "), {
      tags: parsed.error.issues.map((i) => ({ index: i.path[0], message: i.message })),
    });
  }
  const { count } = await db().vm.updateMany({ where: { id: vmId }, data: { tags: parsed.data } });
  if (count === 0) throw new NotFoundError(`no VM with id ${vmId}`);
  const vm = await getVmJson(vmId);
  await publishVm(FLEET_EVENTS.vmUpdated, vm);
  return vm;
}
