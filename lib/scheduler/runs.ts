// Creating runs: the exactly-once claim of due schedules, and "run now".
//
// Exactly-once, across any number of scheduler processes on one PostgreSQL:
//   1. a claim transaction selects due schedules `FOR UPDATE SKIP LOCKED` — two processes never hold
//      the same schedule row, and neither waits on the other;
//   2. inside it, the run is inserted with the unique key (scheduleId, scheduledFor) — `ON CONFLICT DO
//      NOTHING` — so even a second claim of the same occurrence (a stale nextRunAt) cannot fire twice;
//   3. in the same transaction the schedule's nextRunAt moves past the occurrence, so once committed no
//      process sees it due again; if the transaction aborts nothing was fired and the next claim retries.
// The run's VMs (resolved from the targets now, so new VMs are picked up) are inserted as items in the
// same transaction: a crash after commit leaves work that any process continues (dispatch.ts).
import { randomUUID } from "node:crypto";
import { PROCESS_ID } from "../config";
import { db } from "../db/client";
import type { Prisma } from "../db/generated/client";
import { ConflictError, NotFoundError } from "../errors";
import { nextRunAfter } from "../schedule-rules/cron";
import { scheduleTargetsSchema, staggerOffsets, TargetIndex, type TargetVm } from "../schedule-rules/targets";
import { DEFAULT_MISSED_GRACE_MS, planFiring } from "./firing";

type Tx = Prisma.TransactionClient;

/** A VM busy with another job is waited for at most this long (or until the schedule's next run). */
export const MAX_BUSY_WAIT_MS = 6 * 3600_000;

interface ScheduleForRun {
  id: string;
  cron: string;
  timezone: string;
  targets: Prisma.JsonValue;
  staggerSeconds: number;
}

export interface NewRun {
  schedule: ScheduleForRun;
  scheduledFor: Date;
  trigger: "scheduled" | "manual" | "catch_up";
  action: "fire" | "skip";
  firedAt: Date;
  firedBy: string;
  reason: string | null;
  missedCount: number;
  /** The schedule's next occurrence, when already known (a busy VM is waited for until then). */
  nextRunAt?: Date;
}

export interface CreatedRun {
  id: string;
  scheduleId: string;
  scheduledFor: Date;
  firedAt: Date;
  trigger: NewRun["trigger"];
  status: "running" | "skipped";
  vmCount: number;
}

/** The VMs these runs' targets can select: by id, by host, or the whole fleet when a selector needs it. */
export async function loadTargetVms(tx: Tx, runs: NewRun[]): Promise<TargetVm[]> {
  const vmIds = new Set<string>();
  const hostIds = new Set<string>();
  for (const r of runs) {
    if (r.action !== "fire") continue;
    const t = scheduleTargetsSchema.safeParse(r.schedule.targets);
    if (!t.success) continue;
    if ("selector" in t.data) return tx.vm.findMany({ select: VM_FIELDS });
    if ("hostId" in t.data) hostIds.add(t.data.hostId);
    else for (const id of t.data.vmIds) vmIds.add(id);
  }
  if (vmIds.size === 0 && hostIds.size === 0) return [];
  return tx.vm.findMany({
    where: { OR: [{ id: { in: [...vmIds] } }, { hostId: { in: [...hostIds] } }] },
    select: VM_FIELDS,
  });
}

const VM_FIELDS = { id: true, name: true, hostId: true, tags: true, state: true } as const;

/**
 * Inserts runs and their items. Runs whose (scheduleId, scheduledFor) already exists are not
 * inserted and not returned: that occurrence has fired already.
 */
export async function insertRuns(tx: Tx, runs: NewRun[], vms: TargetVm[]): Promise<CreatedRun[]> {
  if (runs.length === 0) return [];
  const index = new TargetIndex(vms);
  const resolved = runs.map((r) => {
    if (r.action === "skip") return { run: r, vms: [] as TargetVm[], note: null as string | null };
    const targets = scheduleTargetsSchema.safeParse(r.schedule.targets);
    if (!targets.success) return { run: r, vms: [], note: "the schedule's targets are invalid" };
    const { vms: picked, missing } = index.resolve(targets.data);
    const note = missing.length
      ? `${missing.length} targeted VM${missing.length === 1 ? "" : "s"} skipped: ${missing.map((m) => m.reason).join("; ")}`
      : null;
    return { run: r, vms: picked, note };
  });
  const rows = resolved.map(({ run, vms: picked, note }) => {
    const nothing = run.action === "fire" && picked.length === 0;
    // A run with nothing to snapshot stays "running" without items: finalize records it as failed
    // and counts it towards the failure flag, like any other failed run.
    const status = run.action === "skip" ? "skipped" : "running";
    const reason = [run.reason, note, nothing ? "no VM matched the schedule's targets" : null]
      .filter(Boolean)
      .join("; ");
    return {
      scheduleId: run.schedule.id,
      scheduledFor: run.scheduledFor,
      trigger: run.trigger,
      status,
      firedAt: run.firedAt,
      firedBy: run.firedBy,
      reason: reason || null,
      missedCount: run.missedCount,
      vmCount: picked.length,
      finishedAt: status === "running" ? null : run.firedAt,
    } as const;
  });
  // Bulk inserts as one statement each (unnest of column arrays): a burst of thousands of due
  // schedules is claimed in batches, and per-row ORM inserts would dominate the claim's time.
  const inserted = await tx.$queryRaw<(Omit<CreatedRun, "status" | "trigger"> & { trigger: string; status: string })[]>`
    INSERT INTO "ScheduleRun"
      (id, "scheduleId", "scheduledFor", trigger, status, "firedAt", "firedBy", reason, "missedCount", "vmCount", "finishedAt")
    SELECT * FROM unnest(
      ${rows.map(() => randomUUID())}::uuid[],
      ${rows.map((r) => r.scheduleId)}::uuid[],
      ${rows.map((r) => r.scheduledFor)}::timestamp(3)[],
      ${rows.map((r) => r.trigger)}::"ScheduleRunTrigger"[],
      ${rows.map((r) => r.status)}::"ScheduleRunStatus"[],
      ${rows.map((r) => r.firedAt)}::timestamp(3)[],
      ${rows.map((r) => r.firedBy)}::text[],
      ${rows.map((r) => r.reason)}::text[],
      ${rows.map((r) => r.missedCount)}::int[],
      ${rows.map((r) => r.vmCount)}::int[],
      ${rows.map((r) => r.finishedAt)}::timestamp(3)[])
    ON CONFLICT ("scheduleId", "scheduledFor") DO NOTHING
    RETURNING id, "scheduleId", "scheduledFor", "firedAt", trigger::text AS trigger, status::text AS status, "vmCount"`;
  const key = (scheduleId: string, at: Date) => `${scheduleId}@${at.getTime()}`;
  const byKey = new Map(resolved.map((r) => [key(r.run.schedule.id, r.run.scheduledFor), r]));
  const items: { runId: string; scheduleId: string; vm: TargetVm; notBefore: Date; waitUntil: Date }[] = [];
  for (const run of inserted) {
    const r = byKey.get(key(run.scheduleId, run.scheduledFor));
    if (!r || r.vms.length === 0) continue;
    const offsets = staggerOffsets(r.vms.length, r.run.schedule.staggerSeconds);
    const waitUntil = busyWaitDeadline(r.run);
    r.vms.forEach((vm, i) => {
      items.push({
        runId: run.id,
        scheduleId: run.scheduleId,
        vm,
        notBefore: new Date(r.run.firedAt.getTime() + offsets[i]!),
        waitUntil,
      });
    });
  }
  if (items.length) {
    await tx.$executeRaw`
      INSERT INTO "ScheduleRunItem" (id, "runId", "scheduleId", "vmId", "hostId", "vmName", "notBefore", "waitUntil")
      SELECT * FROM unnest(
        ${items.map(() => randomUUID())}::uuid[],
        ${items.map((i) => i.runId)}::uuid[],
        ${items.map((i) => i.scheduleId)}::uuid[],
        ${items.map((i) => i.vm.id)}::uuid[],
        ${items.map((i) => i.vm.hostId)}::uuid[],
        ${items.map((i) => i.vm.name)}::text[],
        ${items.map((i) => i.notBefore)}::timestamp(3)[],
        ${items.map((i) => i.waitUntil)}::timestamp(3)[])`;
  }
  return inserted.map((r) => ({
    ...r,
    trigger: r.trigger as CreatedRun["trigger"],
    status: r.status as CreatedRun["status"],
  }));
}

/** Until the schedule's next occurrence (runs must not pile up behind a busy VM), at most 6 h. */
function busyWaitDeadline(run: NewRun): Date {
  const cap = run.firedAt.getTime() + MAX_BUSY_WAIT_MS;
  try {
    const { cron, timezone } = run.schedule;
    const next =
      run.nextRunAt ?? nextRunAfter(cron, timezone, run.scheduledFor > run.firedAt ? run.scheduledFor : run.firedAt);
    return new Date(Math.min(cap, next.getTime()));
  } catch {
    return new Date(cap);
  }
}

export interface ClaimOptions {
  now: Date;
  batchSize?: number;
  graceMs?: number;
  firedBy?: string;
}

interface DueRow extends ScheduleForRun {
  nextRunAt: Date;
  missedRunPolicy: string;
}

/**
 * Claims up to `batchSize` due schedules and fires each once (see the header). Returns the runs
 * created; fewer than the batch size means nothing else is due right now.
 */
export async function claimDueRuns(opts: ClaimOptions): Promise<{ claimed: number; runs: CreatedRun[] }> {
  const { now, batchSize = 500, graceMs = DEFAULT_MISSED_GRACE_MS, firedBy = PROCESS_ID } = opts;
  return db().$transaction(
    async (tx) => {
      const due = await tx.$queryRaw<DueRow[]>`
        SELECT id, cron, timezone, targets, "staggerSeconds", "nextRunAt", "missedRunPolicy"
        FROM "Schedule"
        WHERE enabled AND "nextRunAt" <= ${now}
        ORDER BY "nextRunAt"
        LIMIT ${batchSize}
        FOR UPDATE SKIP LOCKED`;
      if (due.length === 0) return { claimed: 0, runs: [] };
      const newRuns: NewRun[] = [];
      const advance: { id: string; next: Date | null }[] = [];
      for (const row of due) {
        try {
          const plan = planFiring(
            {
              cron: row.cron,
              timezone: row.timezone,
              nextRunAt: row.nextRunAt,
              missedRunPolicy: row.missedRunPolicy === "skip" ? "skip" : "run-once",
            },
            now,
            graceMs,
          );
          newRuns.push({
            schedule: row,
            scheduledFor: plan.scheduledFor,
            trigger: plan.trigger,
            action: plan.action,
            firedAt: now,
            firedBy,
            reason: plan.reason,
            missedCount: plan.missedCount,
            nextRunAt: plan.nextRunAt,
          });
          advance.push({ id: row.id, next: plan.nextRunAt });
        } catch {
          // A cron or zone that no longer parses (e.g. a zone removed from the tz database): stop
          // claiming it rather than fail every tick; the Schedules page shows it without a next run.
          advance.push({ id: row.id, next: null });
        }
      }
      const vms = await loadTargetVms(tx, newRuns);
      const runs = await insertRuns(tx, newRuns, vms);
      await tx.$executeRaw`
        UPDATE "Schedule" AS s
        SET "nextRunAt" = v.next, "lastRunAt" = ${now}
        FROM (SELECT unnest(${advance.map((a) => a.id)}::uuid[]) AS id,
                     unnest(${advance.map((a) => a.next)}::timestamp(3)[]) AS next) AS v
        WHERE s.id = v.id`;
      return { claimed: due.length, runs };
    },
    { timeout: 120_000, maxWait: 30_000 },
  );
}

/** "Run now": a manual run at `now`, with the schedule's targets resolved at this instant. */
export async function runScheduleNow(scheduleId: string, now: Date, firedBy = PROCESS_ID): Promise<CreatedRun> {
  return db().$transaction(async (tx) => {
    const schedule = await tx.schedule.findUnique({
      where: { id: scheduleId },
      select: { id: true, cron: true, timezone: true, targets: true, staggerSeconds: true },
    });
    if (!schedule) throw new NotFoundError("schedule not found");
    const runs: NewRun[] = [
      {
        schedule,
        scheduledFor: now,
        trigger: "manual",
        action: "fire",
        firedAt: now,
        firedBy,
        reason: null,
        missedCount: 0,
      },
    ];
    const [run] = await insertRuns(tx, runs, await loadTargetVms(tx, runs));
    if (!run) throw new ConflictError("a run of this schedule was started at this very instant; try again");
    await tx.schedule.update({ where: { id: scheduleId }, data: { lastRunAt: now } });
    return run;
  });
}
