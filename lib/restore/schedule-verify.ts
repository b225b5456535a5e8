// Schedules with verifyNewest: after a run, the newest completed snapshot of each VM whose snapshot
// completed in it is verified in a sandbox (createRestoreJob("verify")). Never throws: a VM that cannot
// be verified (remote host, a restore of it already running) is logged and skipped.
import { db } from "../db/client";
import type { Logger } from "../logger";
import { createRestoreJob } from "./jobs";

export async function verifyNewestOfRun(opts: { scheduleId: string; vmIds: string[]; log: Logger }): Promise<number> {
  const schedule = await db().schedule.findUnique({ where: { id: opts.scheduleId }, select: { verifyNewest: true } });
  if (!schedule?.verifyNewest) return 0;
  let queued = 0;
  for (const vmId of opts.vmIds) {
    const newest = await db().snapshot.findFirst({
      where: { vmId, scheduleId: opts.scheduleId, status: "completed", deletedAt: null, deletingSince: null },
      orderBy: { createdAt: "desc" },
      select: { id: true },
    });
    if (!newest) continue;
    try {
      await createRestoreJob("verify", newest.id);
      queued++;
    } catch (err) {
      opts.log.warn(
        { err, vm: vmId, snapshot: newest.id },
        "the schedule's verification of its newest snapshot was not queued",
      );
    }
  }
  return queued;
}
