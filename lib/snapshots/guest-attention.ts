// What about a guest an operator must act on after a snapshot went wrong, kept on the VM row and shown
// on its page (docs/reliability.md):
//   - `frozen`: a background snapshot's migration ended failed or cancelled on a QEMU that then leaves
//     the guest's vCPUs blocked in the userfault handler for good (QEMU < 8.1: QEMU.md §2; upstream
//     "migration: stop tracking ram writes when cancelling background migration", in 8.0). The sink
//     design (vmstate-sink.ts) keeps this unreachable in practice; the marker is the safety net that
//     says "restart required" instead of letting a frozen guest look healthy (query-status still says
//     running). Cleared once the VM's QEMU process changed (it was restarted).
//   - `pausedBySnapfleet`: Snapfleet stopped the guest for a snapshot's instant and could not resume it
//     (QEMU failed the `cont`, or a dead run's guest could not be reached). An operator resumes it
//     (POST /api/vms/{id}/resume, audited); only a guest Snapfleet marked is resumed that way: an
//     operator's own pause is never undone by Snapfleet.
// Invariants: never throws from the mark/clear helpers used inside runs and recovery (they log); a
// change is published (vm.updated) so an open VM page shows it; a freeze is also sent to the webhooks
// subscribed to `vm.frozen` (lib/webhooks/emit.ts).
import { db } from "../db/client";
import { Prisma } from "../db/generated/client";
import { ConflictError, NotFoundError } from "../errors";
import { getVmSession } from "../fleet/sessions";
import { getVmJson } from "../fleet/vms";
import { publishVm } from "../fleet/live-state";
import { FLEET_EVENTS, type VmJson } from "../fleet/vm-json";
import type { Logger } from "../logger";
import type { QmpGreeting } from "../qmp/types";
import { emitWebhookEvent } from "../webhooks/emit";
import { IN_FLIGHT_STATUSES } from "./state-machine";

interface StoredAttention {
  since: string;
  reason: string;
  snapshotId: string | null;
  /** The QEMU process at the time (frozen only): a different pid means the VM was restarted. */
  qemuPid?: number | null;
}

export function qemuVersionOf(greeting: QmpGreeting | undefined): { major: number; minor: number } | undefined {
  return greeting?.version?.qemu;
}

async function publishVmQuietly(vmId: string, log?: Logger): Promise<void> {
  try {
    await publishVm(FLEET_EVENTS.vmUpdated, await getVmJson(vmId));
  } catch (err) {
    log?.warn({ err, vm: vmId }, "could not publish the VM after marking it");
  }
}

async function launchPid(vmId: string): Promise<number | null> {
  const row = await db().vm.findUnique({ where: { id: vmId }, select: { launch: true } });
  const pid = (row?.launch as { pid?: unknown } | null)?.pid;
  return typeof pid === "number" ? pid : null;
}

/** Sets a marker on a VM for an operator to act on. Never throws: a failure is logged. */
type MarkVm = (vmId: string, snapshotId: string | null, reason: string, log?: Logger) => Promise<void>;

/** Stores `stored` as the VM's `marker`, logs `problem` at error (an operator must act) and publishes the VM. */
async function storeMarker(
  vmId: string,
  marker: "frozen" | "pausedBySnapfleet",
  stored: StoredAttention,
  problem: string,
  log?: Logger,
): Promise<void> {
  await db().vm.update({ where: { id: vmId }, data: { [marker]: stored as unknown as Prisma.InputJsonValue } });
  log?.error({ vm: vmId, snapshot: stored.snapshotId, reason: stored.reason }, problem);
  await publishVmQuietly(vmId, log);
}

/** Marks the VM "frozen — restart required" and tells the webhooks subscribed to `vm.frozen`. */
export const markVmFrozen: MarkVm = async (vmId, snapshotId, reason, log) => {
  try {
    const since = new Date().toISOString();
    const stored: StoredAttention = { since, reason, snapshotId, qemuPid: await launchPid(vmId) };
    const problem = "the guest is frozen by a failed background snapshot: restart required";
    await storeMarker(vmId, "frozen", stored, problem, log);
    const vm = await db().vm.findUnique({ where: { id: vmId }, select: { name: true, hostId: true } });
    await emitWebhookEvent(
      "vm.frozen",
      { vm: { id: vmId, name: vm?.name ?? null, hostId: vm?.hostId ?? null }, snapshotId, reason, since },
      log,
    );
  } catch (err) {
    log?.error({ err, vm: vmId, reason }, "could not mark the VM frozen");
  }
};

/** Marks a guest Snapfleet paused and could not resume. */
export const markGuestLeftPaused: MarkVm = async (vmId, snapshotId, reason, log) => {
  const stored: StoredAttention = { since: new Date().toISOString(), reason, snapshotId };
  const problem = "a guest Snapfleet paused could not be resumed: an operator can resume it from the VM page";
  await storeMarker(vmId, "pausedBySnapfleet", stored, problem, log).catch((err: unknown) =>
    log?.error({ err, vm: vmId, reason }, "could not mark the guest as left paused"),
  );
};

/**
 * Sweep (worker.ts): clears `frozen` on VMs whose QEMU process changed or that are shut down or gone,
 * and `pausedBySnapfleet` on VMs found running again. Returns how many markers it cleared.
 */
export async function clearResolvedAttention(log: Logger): Promise<number> {
  const vms = await db().vm.findMany({
    where: { OR: [{ frozen: { not: Prisma.DbNull } }, { pausedBySnapfleet: { not: Prisma.DbNull } }] },
    select: { id: true, state: true, launch: true, frozen: true, pausedBySnapfleet: true },
  });
  let cleared = 0;
  for (const vm of vms) {
    const data: Prisma.VmUpdateInput = {};
    const frozen = vm.frozen as StoredAttention | null;
    const pid = (vm.launch as { pid?: unknown } | null)?.pid;
    if (
      frozen &&
      (vm.state === "shutdown" ||
        vm.state === "gone" ||
        (typeof pid === "number" && frozen.qemuPid != null && pid !== frozen.qemuPid))
    ) {
      data.frozen = Prisma.DbNull;
    }
    if (vm.pausedBySnapfleet && vm.state === "running") data.pausedBySnapfleet = Prisma.DbNull;
    if (!Object.keys(data).length) continue;
    await db().vm.update({ where: { id: vm.id }, data });
    cleared += Object.keys(data).length;
    log.info({ vm: vm.id, cleared: Object.keys(data) }, "a guest marker no longer applies: cleared");
    await publishVmQuietly(vm.id, log);
  }
  return cleared;
}

/**
 * The operator's "Resume guest" (POST /api/vms/{id}/resume): `cont` on a guest Snapfleet left paused.
 * 409 when Snapfleet did not mark it (an operator's own pause is not Snapfleet's to undo) or a snapshot
 * of the VM is running; resolves with the VM.
 */
export async function resumeGuestLeftPaused(vmId: string, log?: Logger): Promise<VmJson> {
  const vm = await db().vm.findUnique({ where: { id: vmId }, select: { name: true, pausedBySnapfleet: true } });
  if (!vm) throw new NotFoundError(`no VM with id ${vmId}`);
  if (!vm.pausedBySnapfleet) {
    throw new ConflictError(`Snapfleet did not leave VM ${vm.name} paused: resume it the way it was paused`, { vmId });
  }
  const running = await db().snapshot.findFirst({
    where: { vmId, status: { in: [...IN_FLIGHT_STATUSES] } },
    select: { id: true, status: true },
  });
  if (running)
    throw new ConflictError(`a snapshot of VM ${vm.name} is ${running.status}: it resumes the guest itself`, {
      snapshotId: running.id,
    });
  const qmp = await getVmSession(vmId).catch((err: unknown) => {
    throw new ConflictError(`VM ${vm.name} cannot be reached to resume it: ${(err as Error).message}`, { vmId });
  });
  const { status } = await qmp.queryStatus();
  if (status === "paused") await qmp.cont();
  else if (status !== "running")
    throw new ConflictError(`VM ${vm.name} is ${status}, not paused: nothing to resume`, { vmId });
  await db().vm.update({ where: { id: vmId }, data: { pausedBySnapfleet: Prisma.DbNull } });
  log?.info({ vm: vmId, was: status }, "an operator resumed a guest Snapfleet had left paused");
  const json = await getVmJson(vmId);
  await publishVm(FLEET_EVENTS.vmUpdated, json).catch((err: unknown) =>
    log?.warn({ err }, "could not publish the resumed VM"),
  );
  return json;
}
