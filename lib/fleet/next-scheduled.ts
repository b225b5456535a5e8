// "Next scheduled" for the Fleet table and the VM page: the earliest `nextRunAt` among enabled
// schedules whose targets select the VM, decided by the scheduler's own resolver
// (lib/schedule-rules/targets.ts) so the table and the firings never disagree. Read-only: the scheduler
// owns nextRunAt. One query per page, whatever the page size.
import { db } from "../db/client";
import { resolveTargets, scheduleTargetsSchema, type TargetVm } from "../schedule-rules/targets";

export async function nextScheduledFor(vms: readonly TargetVm[]): Promise<Map<string, Date>> {
  const result = new Map<string, Date>();
  if (vms.length === 0) return result;
  const schedules = await db().schedule.findMany({
    where: { enabled: true, nextRunAt: { not: null } },
    select: { targets: true, nextRunAt: true },
    orderBy: { nextRunAt: "asc" },
  });
  for (const s of schedules) {
    const targets = scheduleTargetsSchema.safeParse(s.targets);
    if (!targets.success || !s.nextRunAt) continue;
    // Ascending by nextRunAt: the first schedule to select a VM is its earliest.
    for (const vm of resolveTargets(targets.data, vms).vms) {
      if (!result.has(vm.id)) result.set(vm.id, s.nextRunAt);
    }
  }
  return result;
}
