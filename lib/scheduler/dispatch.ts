// Moving a run's items along: pending → dispatching → dispatched → completed | skipped | failed.
//   dispatch  claims due pending items (FOR UPDATE SKIP LOCKED, so each is handled by one process) and
//             creates each VM's snapshot job through the snapshot engine's own function (the one
//             "Snapshot now" uses). A VM that already has a job: the schedule's busy policy — "skip"
//             records the skip and why; "wait" rechecks until the VM is free or the wait deadline.
//   settle    follows dispatched items to their snapshot's end; transient failures (VM or host
//             unreachable) are retried with backoff, permanent ones are not.
//   recover   returns items whose dispatching process died mid-call to the right state.
// Every transition is a conditional UPDATE on the expected status: two processes never both apply one.
import { db } from "../db/client";
import type { Prisma } from "../db/generated/client";
import { ConflictError, DomainError } from "../errors";
import type { Logger } from "../logger";
import { TRANSIENT_SNAPSHOT_ERRORS } from "../snapshots/run-errors";
import { fromDbMode } from "../validations/snapshot";
import type { SnapshotJobPort } from "./port";

export interface RetryPolicy {
  /** Snapshot attempts per VM and run, the first included. */
  maxAttempts: number;
  /** Backoff before attempt n+1 is baseMs * 4^(n-1): 30 s, 2 min, 8 min… */
  baseMs: number;
  maxMs: number;
  /** How often a busy VM is rechecked under the "wait" policy. */
  busyRecheckMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 3, baseMs: 30_000, maxMs: 15 * 60_000, busyRecheckMs: 10_000 };

export function backoffMs(attempt: number, p: RetryPolicy): number {
  return Math.min(p.maxMs, p.baseMs * 4 ** Math.max(0, attempt - 1));
}

/**
 * Whether a snapshot failure is worth retrying: the engine's own list of failures a later attempt may
 * not hit (VM unreachable, QEMU gone, QMP timeout, dashboard restart). Everything else (refused by
 * preflight, incompatible VM, disk full…) would fail the same way again: not retried.
 */
export function isTransientFailure(errorClass: string | null): boolean {
  return (TRANSIENT_SNAPSHOT_ERRORS as readonly string[]).includes(errorClass ?? "");
}

interface ClaimedItem {
  id: string;
  runId: string;
  scheduleId: string;
  vmId: string;
  vmName: string;
  attempt: number;
  waitUntil: Date | null;
  claimedAt: Date;
}

export interface DispatchOptions {
  now: Date;
  port: SnapshotJobPort;
  log: Logger;
  limit?: number;
  retry?: RetryPolicy;
}

/** Dispatches due pending items; returns how many it claimed. */
export async function dispatchDueItems(opts: DispatchOptions): Promise<number> {
  const { now, port, log, limit = 200, retry = DEFAULT_RETRY } = opts;
  const items = await db().$queryRaw<ClaimedItem[]>`
    UPDATE "ScheduleRunItem" AS i
    SET status = 'dispatching', "claimedAt" = ${now}
    FROM (
      SELECT id FROM "ScheduleRunItem"
      WHERE status = 'pending' AND "notBefore" <= ${now}
      ORDER BY "notBefore", id
      LIMIT ${limit}
      FOR UPDATE SKIP LOCKED
    ) AS c
    WHERE i.id = c.id
    RETURNING i.id, i."runId", i."scheduleId", i."vmId", i."vmName", i.attempt, i."waitUntil", i."claimedAt"`;
  if (items.length === 0) return 0;
  const schedules = new Map(
    (
      await db().schedule.findMany({
        where: { id: { in: [...new Set(items.map((i) => i.scheduleId))] } },
        select: { id: true, name: true, mode: true, busyPolicy: true, quiesce: true },
      })
    ).map((s) => [s.id, s]),
  );
  // A few at a time: job creation is a short DB write and a queue insert per VM.
  const queue = [...items];
  const workers = Array.from({ length: Math.min(8, queue.length) }, async () => {
    for (let item = queue.shift(); item; item = queue.shift()) {
      const schedule = schedules.get(item.scheduleId);
      if (!schedule) continue; // deleted meanwhile: its items went with it (cascade)
      try {
        await dispatchOne(item, schedule, now, port, retry);
      } catch (err) {
        // Only a database failure lands here; the item stays dispatching and recover() returns it.
        log.error({ err, item: item.id, vm: item.vmId }, "dispatching a scheduled snapshot failed");
      }
    }
  });
  await Promise.all(workers);
  return items.length;
}

async function dispatchOne(
  item: ClaimedItem,
  schedule: {
    id: string;
    name: string;
    mode: "live" | "ram_only" | "disks_only";
    busyPolicy: string;
    quiesce: boolean;
  },
  now: Date,
  port: SnapshotJobPort,
  retry: RetryPolicy,
): Promise<void> {
  const update = (data: Prisma.ScheduleRunItemUpdateManyMutationInput) =>
    db().scheduleRunItem.updateMany({ where: { id: item.id, status: "dispatching", claimedAt: item.claimedAt }, data });
  let snapshotId: string;
  try {
    ({ id: snapshotId } = await port.create({
      vmId: item.vmId,
      mode: fromDbMode(schedule.mode),
      scheduleId: schedule.id,
      note: `schedule "${schedule.name}"`,
      // A quiescing schedule asks for it; otherwise each VM's own setting decides (docs/quiesce.md).
      ...(schedule.quiesce ? { quiesce: true } : {}),
    }));
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    if (err instanceof ConflictError) {
      const busyWith = busySnapshotId(err);
      const what = `VM ${item.vmName} was busy${busyWith ? ` with snapshot ${busyWith}` : ""} (${message})`;
      if (schedule.busyPolicy === "skip") {
        await update({ status: "skipped", reason: `${what}; skipped by the schedule's busy policy`, finishedAt: now });
      } else if (item.waitUntil && now.getTime() >= item.waitUntil.getTime()) {
        await update({
          status: "skipped",
          reason: `${what}; still busy at the wait deadline, gave up waiting`,
          finishedAt: now,
        });
      } else {
        await update({
          status: "pending",
          notBefore: new Date(now.getTime() + retry.busyRecheckMs),
          reason: `waiting: ${what}`,
        });
      }
      return;
    }
    const attempt = item.attempt + 1;
    if (!(err instanceof DomainError) && attempt < retry.maxAttempts) {
      const at = new Date(now.getTime() + backoffMs(attempt, retry));
      await update({
        status: "pending",
        attempt,
        notBefore: at,
        reason: `attempt ${attempt} could not start: ${message}; retrying at ${at.toISOString()}`,
      });
    } else {
      await update({ status: "failed", attempt, reason: `could not start the snapshot: ${message}`, finishedAt: now });
    }
    return;
  }
  await update({ status: "dispatched", snapshotId, attempt: item.attempt + 1, reason: null });
}

function busySnapshotId(err: ConflictError): string | undefined {
  const d = err.details as { snapshotId?: unknown } | undefined;
  return typeof d?.snapshotId === "string" ? d.snapshotId : undefined;
}

interface FinishedRow {
  id: string;
  attempt: number;
  snapshotId: string;
  status: string | null;
  errorClass: string | null;
  errorMessage: string | null;
}

/** Follows dispatched items whose snapshot ended; returns how many it settled. */
export async function settleDispatchedItems(opts: { now: Date; retry?: RetryPolicy; limit?: number }): Promise<number> {
  const { now, retry = DEFAULT_RETRY, limit = 500 } = opts;
  const rows = await db().$queryRaw<FinishedRow[]>`
    SELECT i.id, i.attempt, i."snapshotId", s.status::text AS status, s."errorClass", s."errorMessage"
    FROM "ScheduleRunItem" i
    LEFT JOIN "Snapshot" s ON s.id = i."snapshotId"
    WHERE i.status = 'dispatched'
      AND (s.id IS NULL OR s.status IN ('completed', 'failed', 'cancelled'))
    LIMIT ${limit}`;
  let settled = 0;
  for (const row of rows) {
    const where = { id: row.id, status: "dispatched" as const, snapshotId: row.snapshotId };
    let data: Prisma.ScheduleRunItemUpdateManyMutationInput;
    if (row.status === "completed") {
      data = { status: "completed", reason: null, finishedAt: now };
    } else if (row.status === "cancelled") {
      data = { status: "skipped", reason: `snapshot ${row.snapshotId} was cancelled`, finishedAt: now };
    } else if (row.status === null) {
      data = { status: "failed", reason: `snapshot ${row.snapshotId} was deleted before it finished`, finishedAt: now };
    } else {
      const why = `${row.errorClass ? `${row.errorClass}: ` : ""}${row.errorMessage ?? "no reason recorded"}`;
      if (isTransientFailure(row.errorClass) && row.attempt < retry.maxAttempts) {
        const at = new Date(now.getTime() + backoffMs(row.attempt, retry));
        data = {
          status: "pending",
          notBefore: at,
          reason: `attempt ${row.attempt} failed (${why}); retrying at ${at.toISOString()}`,
        };
      } else {
        const permanence = isTransientFailure(row.errorClass)
          ? `after ${row.attempt} attempts`
          : "(not retried: permanent)";
        data = { status: "failed", reason: `snapshot failed ${permanence}: ${why}`, finishedAt: now };
      }
    }
    const { count } = await db().scheduleRunItem.updateMany({ where, data });
    settled += count;
  }
  return settled;
}

/**
 * Items left `dispatching` by a process that died mid-call: if the snapshot job was created, it is
 * the VM's newest snapshot of this schedule that no item claims; otherwise the item is due again.
 */
export async function recoverStaleItems(opts: { now: Date; staleMs?: number }): Promise<number> {
  const { now, staleMs = 120_000 } = opts;
  const stale = await db().scheduleRunItem.findMany({
    where: { status: "dispatching", claimedAt: { lt: new Date(now.getTime() - staleMs) } },
    select: { id: true, scheduleId: true, vmId: true, claimedAt: true, attempt: true },
    take: 200,
  });
  let recovered = 0;
  for (const item of stale) {
    const [orphan] = await db().$queryRaw<{ id: string }[]>`
      SELECT s.id FROM "Snapshot" s
      WHERE s."scheduleId" = ${item.scheduleId}::uuid AND s."vmId" = ${item.vmId}::uuid
        AND NOT EXISTS (SELECT 1 FROM "ScheduleRunItem" i WHERE i."snapshotId" = s.id)
      ORDER BY s."createdAt" DESC
      LIMIT 1`;
    const { count } = await db().scheduleRunItem.updateMany({
      where: { id: item.id, status: "dispatching", claimedAt: item.claimedAt },
      data: orphan
        ? { status: "dispatched", snapshotId: orphan.id, attempt: item.attempt + 1 }
        : { status: "pending", notBefore: now, reason: "the process dispatching it stopped; dispatching again" },
    });
    recovered += count;
  }
  return recovered;
}
