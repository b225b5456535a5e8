// Schedules as the API and pages see them: create / update / delete (keeping nextRunAt right), the
// list with next run, last result and success rate, one schedule with its recent runs, the dry-run
// retention preview, and the calendar of the next hours of runs per host with collisions marked.
// Read and write paths both take `now` so tests choose the clock.
import { db } from "../db/client";
import { Prisma } from "../db/generated/client";
import { ConflictError, InvalidInputError, NotFoundError } from "../errors";
import { describeCron, listOccurrences, nextRunAfter } from "../schedule-rules/cron";
import {
  describeTargets,
  scheduleTargetsSchema,
  staggerOffsets,
  TargetIndex,
  type ScheduleTargets,
} from "../schedule-rules/targets";
import { hostModeBlocker, type SnapshotModeKey } from "../fleet/host-capabilities";
import { getLimits } from "../snapshots/admission";
import type { ScheduleCreateInput, ScheduleUpdateInput } from "../validations/schedule";
import { fromDbMode, toDbMode } from "../validations/snapshot";
import { decideScheduleRetention, type RetentionRow } from "./finalize";
import { describePolicy, type RetentionPolicy } from "./retention";
import { wakeScheduler } from "./worker";

/** Runs counted in a schedule's success rate. */
export const SUCCESS_RATE_WINDOW = 20;

type ScheduleRow = Prisma.ScheduleGetPayload<object>;

export interface ScheduleView {
  id: string;
  name: string;
  cron: string;
  timezone: string;
  description: string;
  targets: ScheduleTargets;
  targetSummary: string;
  mode: ReturnType<typeof fromDbMode>;
  retention: RetentionPolicy;
  retentionSummary: string;
  enabled: boolean;
  busyPolicy: string;
  missedRunPolicy: string;
  staggerSeconds: number;
  failureAlertThreshold: number;
  /** After each run, verify the newest snapshot of each VM in a sandbox (lib/restore/schedule-verify.ts). */
  verifyNewest: boolean;
  /** Its snapshots freeze the guests' filesystems through their agents; false: each VM's own setting (docs/quiesce.md). */
  quiesce: boolean;
  consecutiveFailures: number;
  /** Its runs failed `failureAlertThreshold` times in a row: shown on the Schedules page. */
  flagged: boolean;
  nextRunAt: string | null;
  lastRunAt: string | null;
  lastRun: { id: string; status: string; firedAt: string; finishedAt: string | null; reason: string | null } | null;
  successRate: { succeeded: number; finished: number; rate: number | null };
  createdAt: string;
  updatedAt: string;
}

function describeSafely(cron: string, timezone: string): string {
  try {
    return describeCron(cron, timezone);
  } catch (err) {
    return `invalid: ${(err as Error).message}`;
  }
}

function toView(
  s: ScheduleRow,
  extra: {
    hostNames: Map<string, string>;
    lastRun?: ScheduleView["lastRun"];
    rate?: { succeeded: number; finished: number };
  },
): ScheduleView {
  const targets = scheduleTargetsSchema.safeParse(s.targets);
  const retention = (s.retention ?? {}) as RetentionPolicy;
  const rate = extra.rate ?? { succeeded: 0, finished: 0 };
  return {
    id: s.id,
    name: s.name,
    cron: s.cron,
    timezone: s.timezone,
    description: describeSafely(s.cron, s.timezone),
    targets: targets.success ? targets.data : { selector: "" },
    targetSummary: targets.success ? describeTargets(targets.data, { hosts: extra.hostNames }) : "invalid targets",
    mode: fromDbMode(s.mode),
    retention,
    retentionSummary: describePolicy(retention),
    enabled: s.enabled,
    busyPolicy: s.busyPolicy,
    missedRunPolicy: s.missedRunPolicy,
    staggerSeconds: s.staggerSeconds,
    failureAlertThreshold: s.failureAlertThreshold,
    verifyNewest: s.verifyNewest,
    quiesce: s.quiesce,
    consecutiveFailures: s.consecutiveFailures,
    flagged: s.consecutiveFailures >= s.failureAlertThreshold,
    nextRunAt: s.nextRunAt?.toISOString() ?? null,
    lastRunAt: s.lastRunAt?.toISOString() ?? null,
    lastRun: extra.lastRun ?? null,
    successRate: { ...rate, rate: rate.finished ? rate.succeeded / rate.finished : null },
    createdAt: s.createdAt.toISOString(),
    updatedAt: s.updatedAt.toISOString(),
  };
}

async function hostNames(): Promise<Map<string, string>> {
  return new Map((await db().host.findMany({ select: { id: true, name: true } })).map((h) => [h.id, h.name]));
}

async function assertTargetsExist(targets: ScheduleTargets): Promise<void> {
  if ("hostId" in targets) {
    const host = await db().host.findUnique({ where: { id: targets.hostId }, select: { id: true } });
    if (!host) throw new InvalidInputError("targets.hostId: no such host");
  } else if ("vmIds" in targets) {
    const found = await db().vm.count({ where: { id: { in: targets.vmIds } } });
    if (found !== new Set(targets.vmIds).size) throw new InvalidInputError("targets.vmIds: some VMs do not exist");
  }
}

/**
 * A schedule whose targets include a VM on a host kind that cannot give its mode (a TLS host: only
 * disks-only; lib/fleet/host-capabilities.ts) is refused on save, with the reason — it would fail on
 * every run. Selector targets are resolved at every firing, so they are checked there (the run records
 * the 422 of each VM it cannot snapshot).
 */
async function assertModeOffered(targets: ScheduleTargets, mode: SnapshotModeKey): Promise<void> {
  const where =
    "hostId" in targets ? { hostId: targets.hostId } : "vmIds" in targets ? { id: { in: targets.vmIds } } : null;
  if (!where) return;
  const vms = await db().vm.findMany({
    where: { ...where, state: { not: "gone" } },
    select: { name: true, qemuVersion: true, host: { select: { name: true, kind: true } } },
    orderBy: { name: "asc" },
  });
  const blocked = vms.flatMap((v) => {
    const why = hostModeBlocker(v.host.kind, mode, v.qemuVersion);
    return why ? [{ vm: v.name, host: v.host, why }] : [];
  });
  if ("hostId" in targets && !vms.length) {
    const host = await db().host.findUnique({ where: { id: targets.hostId }, select: { name: true, kind: true } });
    const why = host ? hostModeBlocker(host.kind, mode, null) : null;
    if (host && why)
      throw new InvalidInputError(`mode: ${host.kind} host ${host.name} cannot take ${mode} snapshots: ${why}`);
    return;
  }
  if (!blocked.length) return;
  const first = blocked[0]!;
  throw new InvalidInputError(
    `mode: ${
      blocked.length === 1
        ? `VM ${first.vm}`
        : `${blocked.length} target VMs (${blocked
            .map((b) => b.vm)
            .slice(0, 5)
            .join(", ")}${blocked.length > 5 ? ", …" : ""})`
    } on ${first.host.kind} host ${first.host.name} cannot take ${mode} snapshots: ${first.why}`,
  );
}

function uniqueName<T>(p: Promise<T>, name: string | undefined): Promise<T> {
  return p.catch((err) => {
    if (err instanceof Prisma.PrismaClientKnownRequestError && err.code === "P2002") {
      throw new ConflictError(`a schedule named "${name}" already exists`);
    }
    throw err;
  });
}

export async function createSchedule(input: ScheduleCreateInput, now: Date): Promise<ScheduleView> {
  await assertTargetsExist(input.targets);
  await assertModeOffered(input.targets, input.mode);
  const nextRunAt = input.enabled ? nextRunAfter(input.cron, input.timezone, now) : null;
  const s = await uniqueName(
    db().schedule.create({
      // The input's fields are the table's columns (strict schemas: nothing else gets through).
      data: { ...input, mode: toDbMode(input.mode), nextRunAt },
    }),
    input.name,
  );
  wakeScheduler();
  return toView(s, { hostNames: await hostNames() });
}

export async function updateSchedule(id: string, input: ScheduleUpdateInput, now: Date): Promise<ScheduleView> {
  if (input.targets) await assertTargetsExist(input.targets);
  if (input.targets || input.mode) {
    const current = await db().schedule.findUnique({ where: { id }, select: { targets: true, mode: true } });
    if (current) {
      const targets = input.targets ?? scheduleTargetsSchema.safeParse(current.targets).data;
      if (targets) await assertModeOffered(targets, input.mode ?? fromDbMode(current.mode));
    }
  }
  const s = await db().$transaction(async (tx) => {
    // Locks the row: a claim in progress finishes first, so nextRunAt is recomputed after it.
    const [current] = await tx.$queryRaw<{ id: string; cron: string; timezone: string; enabled: boolean }[]>`
      SELECT id, cron, timezone, enabled FROM "Schedule" WHERE id = ${id}::uuid FOR UPDATE`;
    if (!current) throw new NotFoundError("schedule not found");
    const cron = input.cron ?? current.cron;
    const timezone = input.timezone ?? current.timezone;
    const enabled = input.enabled ?? current.enabled;
    const timing = input.cron !== undefined || input.timezone !== undefined || input.enabled !== undefined;
    return uniqueName(
      tx.schedule.update({
        where: { id },
        data: {
          ...input, // only the fields given change (see createSchedule)
          mode: input.mode ? toDbMode(input.mode) : undefined,
          // Re-enabling never catches up on the disabled stretch: the next run is after now.
          ...(timing ? { nextRunAt: enabled ? nextRunAfter(cron, timezone, now) : null } : {}),
        },
      }),
      input.name,
    );
  });
  wakeScheduler();
  return (await getSchedule(s.id)).schedule;
}

export async function deleteSchedule(id: string): Promise<void> {
  const { count } = await db().schedule.deleteMany({ where: { id } });
  if (count === 0) throw new NotFoundError("schedule not found");
}

async function lastRuns(ids: string[]): Promise<Map<string, NonNullable<ScheduleView["lastRun"]>>> {
  if (ids.length === 0) return new Map();
  const rows = await db().$queryRaw<
    { scheduleId: string; id: string; status: string; firedAt: Date; finishedAt: Date | null; reason: string | null }[]
  >`
    SELECT DISTINCT ON ("scheduleId") "scheduleId", id, status::text AS status, "firedAt", "finishedAt", reason
    FROM "ScheduleRun" WHERE "scheduleId" = ANY(${ids}::uuid[])
    ORDER BY "scheduleId", "firedAt" DESC, "scheduledFor" DESC`;
  return new Map(
    rows.map((r) => [
      r.scheduleId,
      {
        id: r.id,
        status: r.status,
        firedAt: r.firedAt.toISOString(),
        finishedAt: r.finishedAt?.toISOString() ?? null,
        reason: r.reason,
      },
    ]),
  );
}

async function successRates(ids: string[]): Promise<Map<string, { succeeded: number; finished: number }>> {
  if (ids.length === 0) return new Map();
  const rows = await db().$queryRaw<{ scheduleId: string; succeeded: number; finished: number }[]>`
    SELECT "scheduleId", count(*) FILTER (WHERE status = 'succeeded')::int AS succeeded, count(*)::int AS finished
    FROM (
      SELECT "scheduleId", status,
             row_number() OVER (PARTITION BY "scheduleId" ORDER BY "firedAt" DESC) AS n
      FROM "ScheduleRun"
      WHERE "scheduleId" = ANY(${ids}::uuid[]) AND status IN ('succeeded', 'partial', 'failed')
    ) t
    WHERE n <= ${SUCCESS_RATE_WINDOW}
    GROUP BY "scheduleId"`;
  return new Map(rows.map((r) => [r.scheduleId, { succeeded: r.succeeded, finished: r.finished }]));
}

export async function listSchedules(): Promise<ScheduleView[]> {
  const schedules = await db().schedule.findMany({ orderBy: { name: "asc" } });
  const ids = schedules.map((s) => s.id);
  const [last, rates, names] = await Promise.all([lastRuns(ids), successRates(ids), hostNames()]);
  return schedules.map((s) => toView(s, { hostNames: names, lastRun: last.get(s.id), rate: rates.get(s.id) }));
}

export interface RunView {
  id: string;
  scheduledFor: string;
  firedAt: string;
  finishedAt: string | null;
  trigger: string;
  status: string;
  reason: string | null;
  missedCount: number;
  vmCount: number;
  prunedCount: number;
  items: {
    id: string;
    vmId: string;
    vmName: string;
    hostId: string;
    status: string;
    attempt: number;
    notBefore: string;
    snapshotId: string | null;
    snapshotStatus: string | null;
    reason: string | null;
  }[];
}

export async function getSchedule(id: string, runLimit = 20): Promise<{ schedule: ScheduleView; runs: RunView[] }> {
  const s = await db().schedule.findUnique({ where: { id } });
  if (!s) throw new NotFoundError("schedule not found");
  const [last, rates, names, runs] = await Promise.all([
    lastRuns([id]),
    successRates([id]),
    hostNames(),
    db().scheduleRun.findMany({
      where: { scheduleId: id },
      orderBy: [{ firedAt: "desc" }, { scheduledFor: "desc" }],
      take: runLimit,
      include: { items: { orderBy: [{ notBefore: "asc" }, { vmName: "asc" }] } },
    }),
  ]);
  const snapshotIds = runs.flatMap((r) => r.items.map((i) => i.snapshotId)).filter((x): x is string => !!x);
  const statuses = new Map(
    (await db().snapshot.findMany({ where: { id: { in: snapshotIds } }, select: { id: true, status: true } })).map(
      (x) => [x.id, x.status],
    ),
  );
  return {
    schedule: toView(s, { hostNames: names, lastRun: last.get(id), rate: rates.get(id) }),
    runs: runs.map((r) => ({
      id: r.id,
      scheduledFor: r.scheduledFor.toISOString(),
      firedAt: r.firedAt.toISOString(),
      finishedAt: r.finishedAt?.toISOString() ?? null,
      trigger: r.trigger,
      status: r.status,
      reason: r.reason,
      missedCount: r.missedCount,
      vmCount: r.vmCount,
      prunedCount: r.prunedCount,
      items: r.items.map((i) => ({
        id: i.id,
        vmId: i.vmId,
        vmName: i.vmName,
        hostId: i.hostId,
        status: i.status,
        attempt: i.attempt,
        notBefore: i.notBefore.toISOString(),
        snapshotId: i.snapshotId,
        snapshotStatus: i.snapshotId ? (statuses.get(i.snapshotId) ?? null) : null,
        reason: i.reason,
      })),
    })),
  };
}

export interface RetentionPreview {
  policy: RetentionPolicy;
  policySummary: string;
  timezone: string;
  keep: number;
  prune: number;
  snapshots: (Omit<RetentionRow, "takenAt"> & { takenAt: string })[];
}

/** Dry run: what the policy (the stored one, or the one being edited) would keep and delete now. */
export async function previewRetention(
  id: string,
  policy?: RetentionPolicy,
  timezone?: string,
): Promise<RetentionPreview> {
  const s = await db().schedule.findUnique({ where: { id }, select: { retention: true, timezone: true } });
  if (!s) throw new NotFoundError("schedule not found");
  const effective = policy ?? ((s.retention ?? {}) as RetentionPolicy);
  const rows = await decideScheduleRetention({ scheduleId: id, policy: effective, timezone: timezone ?? s.timezone });
  return {
    policy: effective,
    policySummary: describePolicy(effective),
    timezone: timezone ?? s.timezone,
    keep: rows.filter((r) => r.action === "keep").length,
    prune: rows.filter((r) => r.action === "prune").length,
    snapshots: rows.map((r) => ({ ...r, takenAt: r.takenAt.toISOString() })),
  };
}

export interface CalendarRun {
  scheduleId: string;
  scheduleName: string;
  at: string;
  /** When the last VM of this host starts, with the schedule's stagger. */
  lastStartAt: string;
  vmCount: number;
}

export interface CalendarHost {
  hostId: string;
  hostName: string;
  limit: number;
  runs: CalendarRun[];
  /** Stretches where more snapshots are due on the host than its limit: they will queue. */
  collisions: { from: string; to: string; concurrent: number; schedules: string[] }[];
}

/** Estimated length of one VM's snapshot when no history says otherwise. */
export const DEFAULT_SNAPSHOT_ESTIMATE_MS = 60_000;

/** Runs of enabled schedules in [now, now + hours] per host, with collisions against the host limit. */
export async function scheduleCalendar(
  now: Date,
  hours: number,
): Promise<{ from: string; to: string; hosts: CalendarHost[] }> {
  const to = new Date(now.getTime() + hours * 3600_000);
  const [schedules, vms, hosts] = await Promise.all([
    db().schedule.findMany({ where: { enabled: true }, orderBy: { name: "asc" } }),
    db().vm.findMany({ select: { id: true, name: true, hostId: true, tags: true, state: true } }),
    db().host.findMany({ select: { id: true, name: true }, orderBy: { name: "asc" } }),
  ]);
  // Estimated duration per VM: the mean of its last completed snapshots.
  const durations = new Map(
    (
      await db().$queryRaw<{ vmId: string; ms: number }[]>`
        SELECT "vmId", avg("totalMs")::float8 AS ms FROM "Snapshot"
        WHERE status = 'completed' AND "totalMs" IS NOT NULL
        GROUP BY "vmId"`
    ).map((r) => [r.vmId, r.ms]),
  );
  const index = new TargetIndex(vms);
  const perHost = new Map<string, { runs: CalendarRun[]; spans: { start: number; end: number; schedule: string }[] }>();
  for (const s of schedules) {
    const targets = scheduleTargetsSchema.safeParse(s.targets);
    if (!targets.success) continue;
    const picked = index.resolve(targets.data).vms;
    let occurrences: Date[];
    try {
      occurrences = listOccurrences(s.cron, s.timezone, now, to, 500);
    } catch {
      continue;
    }
    const offsets = staggerOffsets(picked.length, s.staggerSeconds);
    for (const at of occurrences) {
      const byHost = new Map<string, number[]>();
      picked.forEach((vm, i) => {
        const list = byHost.get(vm.hostId) ?? [];
        list.push(i);
        byHost.set(vm.hostId, list);
        const entry = perHost.get(vm.hostId) ?? { runs: [], spans: [] };
        const start = at.getTime() + offsets[i]!;
        entry.spans.push({
          start,
          end: start + (durations.get(vm.id) ?? DEFAULT_SNAPSHOT_ESTIMATE_MS),
          schedule: s.name,
        });
        perHost.set(vm.hostId, entry);
      });
      for (const [hostId, idx] of byHost) {
        perHost.get(hostId)!.runs.push({
          scheduleId: s.id,
          scheduleName: s.name,
          at: at.toISOString(),
          lastStartAt: new Date(at.getTime() + offsets[idx[idx.length - 1]!]!).toISOString(),
          vmCount: idx.length,
        });
      }
    }
  }
  const out: CalendarHost[] = [];
  for (const h of hosts) {
    const entry = perHost.get(h.id);
    const { host: limit } = await getLimits(h.id);
    out.push({
      hostId: h.id,
      hostName: h.name,
      limit,
      runs: (entry?.runs ?? []).sort((a, b) => a.at.localeCompare(b.at)),
      collisions: entry ? findCollisions(entry.spans, limit) : [],
    });
  }
  return { from: now.toISOString(), to: to.toISOString(), hosts: out };
}

/** Sweep over start/end points: the stretches where more than `limit` spans overlap. */
export function findCollisions(
  spans: { start: number; end: number; schedule: string }[],
  limit: number,
): CalendarHost["collisions"] {
  const points = spans.flatMap((s, i) => [
    { t: s.start, d: 1, i },
    { t: s.end, d: -1, i },
  ]);
  points.sort((a, b) => a.t - b.t || a.d - b.d);
  const open = new Set<number>();
  const out: CalendarHost["collisions"] = [];
  let current: { from: number; concurrent: number; schedules: Set<string> } | undefined;
  for (const p of points) {
    if (p.d === 1) open.add(p.i);
    else open.delete(p.i);
    if (open.size > limit) {
      current ??= { from: p.t, concurrent: 0, schedules: new Set() };
      current.concurrent = Math.max(current.concurrent, open.size);
      for (const i of open) current.schedules.add(spans[i]!.schedule);
    } else if (current) {
      out.push({
        from: new Date(current.from).toISOString(),
        to: new Date(p.t).toISOString(),
        concurrent: current.concurrent,
        schedules: [...current.schedules].sort(),
      });
      current = undefined;
    }
  }
  return out;
}
