// Ending runs and applying retention.
//   finalize  a run whose items all ended gets its result (succeeded / partial / failed / skipped), and
//             its schedule's consecutive-failure count moves (reset on success, +1 on failed or partial;
//             a schedule is flagged, never disabled, once it reaches its threshold — and the webhooks
//             subscribed to `schedule.flagged` are told, once). Claimed with FOR UPDATE SKIP LOCKED:
//             one process finalizes each run.
//   retention after a run, for each VM whose snapshot completed in it, the schedule's policy decides
//             (lib/scheduler/retention.ts, by id) and the pruned snapshots are deleted through the
//             snapshot engine and recorded in SchedulePrune. The same loading serves the dry-run preview.
import { db } from "../db/client";
import type { Logger } from "../logger";
import { emitWebhookEvent } from "../webhooks/emit";
import type { SnapshotJobPort } from "./port";
import { decideRetention, type RetentionDecision, type RetentionPolicy } from "./retention";

export interface FinalizedRun {
  id: string;
  scheduleId: string;
  status: "succeeded" | "partial" | "failed" | "skipped";
  completedVmIds: string[];
}

export function runResult(counts: { completed: number; failed: number; skipped: number }): FinalizedRun["status"] {
  const { completed, failed, skipped } = counts;
  if (completed + failed + skipped === 0) return "failed";
  if (failed === 0) return completed > 0 ? "succeeded" : "skipped";
  return completed > 0 ? "partial" : "failed";
}

/** Finalizes runs whose items have all ended; returns them. */
export async function finalizeRuns(opts: { now: Date; limit?: number }): Promise<FinalizedRun[]> {
  const { now, limit = 100 } = opts;
  // Schedules whose failure count reached their threshold in this call: told to the webhooks once committed.
  const flagged: Array<Record<string, unknown>> = [];
  const finalized = await db().$transaction(
    async (tx) => {
      const runs = await tx.$queryRaw<{ id: string; scheduleId: string; reason: string | null }[]>`
        SELECT r.id, r."scheduleId", r.reason FROM "ScheduleRun" r
        WHERE r.status = 'running'
          AND NOT EXISTS (
            SELECT 1 FROM "ScheduleRunItem" i
            WHERE i."runId" = r.id AND i.status IN ('pending', 'dispatching', 'dispatched'))
        ORDER BY r."firedAt"
        LIMIT ${limit}
        FOR UPDATE SKIP LOCKED`;
      if (runs.length === 0) return [];
      const items = await tx.scheduleRunItem.findMany({
        where: { runId: { in: runs.map((r) => r.id) } },
        select: { runId: true, vmId: true, status: true },
      });
      const out: FinalizedRun[] = [];
      for (const run of runs) {
        const mine = items.filter((i) => i.runId === run.id);
        const counts = {
          completed: mine.filter((i) => i.status === "completed").length,
          failed: mine.filter((i) => i.status === "failed").length,
          skipped: mine.filter((i) => i.status === "skipped").length,
        };
        const status = runResult(counts);
        const summary = mine.length
          ? `${counts.completed} completed, ${counts.failed} failed, ${counts.skipped} skipped`
          : null;
        await tx.scheduleRun.update({
          where: { id: run.id },
          data: { status, finishedAt: now, reason: [run.reason, summary].filter(Boolean).join("; ") || null },
        });
        if (status === "succeeded") {
          await tx.schedule.update({ where: { id: run.scheduleId }, data: { consecutiveFailures: 0 } });
        } else if (status === "failed" || status === "partial") {
          const s = await tx.schedule.update({
            where: { id: run.scheduleId },
            data: { consecutiveFailures: { increment: 1 } },
            select: { id: true, name: true, consecutiveFailures: true, failureAlertThreshold: true },
          });
          // Flagged once, on the run that reaches the threshold (not again on every further failure).
          if (s.consecutiveFailures === s.failureAlertThreshold) {
            flagged.push({
              schedule: { id: s.id, name: s.name },
              consecutiveFailures: s.consecutiveFailures,
              threshold: s.failureAlertThreshold,
              run: { id: run.id, status, summary },
            });
          }
        }
        out.push({
          id: run.id,
          scheduleId: run.scheduleId,
          status,
          completedVmIds: mine.filter((i) => i.status === "completed").map((i) => i.vmId),
        });
      }
      return out;
    },
    { timeout: 60_000 },
  );
  for (const f of flagged) await emitWebhookEvent("schedule.flagged", f);
  return finalized;
}

export interface RetentionRow extends RetentionDecision {
  vmName: string;
  hostId: string;
  status: string;
  manual: boolean;
  sizeBytes: number | null;
}

/**
 * Loads the snapshots a schedule's retention may consider — this schedule's (by id) and the
 * prunable manual snapshots of the same VMs — and decides. `vmIds` narrows to some VMs.
 */
export async function decideScheduleRetention(opts: {
  scheduleId: string;
  policy?: RetentionPolicy;
  timezone?: string;
  vmIds?: string[];
}): Promise<RetentionRow[]> {
  const schedule = await db().schedule.findUniqueOrThrow({
    where: { id: opts.scheduleId },
    select: { id: true, retention: true, timezone: true },
  });
  const policy = opts.policy ?? ((schedule.retention ?? {}) as RetentionPolicy);
  const timezone = opts.timezone ?? schedule.timezone;
  const vmIds =
    opts.vmIds ??
    (
      await db().snapshot.findMany({
        where: { scheduleId: schedule.id, deletedAt: null },
        select: { vmId: true },
        distinct: ["vmId"],
      })
    ).map((s) => s.vmId);
  if (vmIds.length === 0) return [];
  const snapshots = await db().snapshot.findMany({
    where: {
      vmId: { in: vmIds },
      deletedAt: null,
      OR: [{ scheduleId: schedule.id }, { scheduleId: null, prunable: true }],
    },
    select: {
      id: true,
      vmId: true,
      hostId: true,
      scheduleId: true,
      status: true,
      prunable: true,
      createdAt: true,
      startedAt: true,
      sizeBytes: true,
      vm: { select: { name: true } },
    },
    orderBy: [{ createdAt: "desc" }, { id: "desc" }],
  });
  const decisions = decideRetention({
    scheduleId: schedule.id,
    policy,
    timezone,
    snapshots: snapshots.map((s) => ({
      id: s.id,
      vmId: s.vmId,
      scheduleId: s.scheduleId,
      takenAt: s.startedAt ?? s.createdAt,
      status: s.status,
      prunable: s.prunable,
    })),
  });
  return decisions.map((d, i) => {
    const s = snapshots[i]!;
    return {
      ...d,
      vmName: s.vm.name,
      hostId: s.hostId,
      status: s.status,
      manual: s.scheduleId === null,
      sizeBytes: s.sizeBytes === null ? null : Number(s.sizeBytes),
    };
  });
}

/** Applies the schedule's retention to the VMs of a run; returns how many snapshots it pruned. */
export async function applyRetention(opts: {
  scheduleId: string;
  runId: string | null;
  vmIds: string[];
  port: SnapshotJobPort;
  log: Logger;
}): Promise<number> {
  const { scheduleId, runId, vmIds, port, log } = opts;
  if (vmIds.length === 0) return 0;
  const decisions = await decideScheduleRetention({ scheduleId, vmIds });
  let pruned = 0;
  for (const d of decisions) {
    if (d.action !== "prune") continue;
    try {
      await port.remove(d.id, `retention: ${d.reason}`);
    } catch (err) {
      // Left for the next run's retention: nothing is recorded as pruned that was not deleted.
      log.warn({ err, snapshot: d.id, schedule: scheduleId }, "retention could not delete a snapshot");
      continue;
    }
    await db().schedulePrune.createMany({
      data: [{ scheduleId, runId, snapshotId: d.id, vmId: d.vmId, reason: d.reason }],
      skipDuplicates: true,
    });
    pruned++;
  }
  if (runId && pruned > 0) {
    await db().scheduleRun.update({ where: { id: runId }, data: { prunedCount: { increment: pruned } } });
  }
  return pruned;
}
