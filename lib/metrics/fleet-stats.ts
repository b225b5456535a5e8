// What /metrics reports about the fleet, read from PostgreSQL at scrape time: several dashboard
// processes (web, workers) share one database, so every process's scrape tells the same fleet-wide
// truth, and nothing is lost when a process restarts. Owns the aggregate SQL and its result shape.
// Invariants:
//  - bounded cost whatever the history holds: every read is one aggregate (GROUP BY) pass — histogram
//    buckets are counted in SQL (`count(*) FILTER`), no snapshot, run or restore row is loaded;
//  - one consistent view: all reads run in one REPEATABLE READ transaction (they only read), so a snapshot
//    that completes mid-scrape is counted either as running or as completed, never both or neither;
//  - counters are counts of rows that are never deleted by the dashboard (snapshot rows stay, with
//    deletedAt, after a deletion; SchedulePrune rows stay), so they only grow — except when a host or
//    VM is removed, which cascades to its rows (Prometheus then sees a counter reset).
import { Prisma } from "../db/generated/client";
import { db } from "../db/client";

/** Upper bounds (le) of each histogram's buckets, in the metric's unit. */
export const DURATION_BUCKETS_S = [1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600];
export const GUEST_PAUSE_BUCKETS_S = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
export const SIZE_BUCKETS_BYTES = [
  2 ** 20,
  16 * 2 ** 20,
  64 * 2 ** 20,
  256 * 2 ** 20,
  2 ** 30,
  4 * 2 ** 30,
  16 * 2 ** 30,
  64 * 2 ** 30,
  256 * 2 ** 30,
];
export const LATENESS_BUCKETS_S = [0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600];

/** Modes as the API spells them (lib/snapshots/snapshot-json.ts): the SQL turns ram_only into ram-only. */
export const SNAPSHOT_MODES = ["live", "ram-only", "disks-only"] as const;
export const SNAPSHOT_OUTCOMES = ["completed", "failed", "cancelled"] as const;
export const RESTORE_KINDS = ["rollback", "verify"] as const;
export const RESTORE_OUTCOMES = ["completed", "failed"] as const;
export const VM_STATES = ["running", "paused", "shutdown", "unreachable", "gone"] as const;
export const SCHEDULE_TRIGGERS = ["scheduled", "manual", "catch_up"] as const;
export const SCHEDULE_RUN_OUTCOMES = ["succeeded", "partial", "failed", "skipped"] as const;

export interface HistogramData {
  /** Cumulative counts, one per bound of its bucket list (the +Inf bucket is `count`). */
  buckets: number[];
  sum: number;
  count: number;
}

export interface FleetStats {
  /** Snapshot rows by status and mode (every status, terminal or not). */
  snapshots: Array<{ status: string; mode: string; count: number }>;
  /** Completed snapshots, per mode. */
  durationSeconds: Map<string, HistogramData>;
  guestPauseSeconds: Map<string, HistogramData>;
  sizeBytes: Map<string, HistogramData>;
  hosts: Array<{ id: string; name: string; kind: string; healthy: boolean }>;
  /** Per host id: snapshots waiting in the queue. */
  queuedSnapshots: Map<string, number>;
  /** Per host id: queued restores, by kind. */
  queuedRestores: Array<{ hostId: string; kind: string; count: number }>;
  /** Per host id: snapshots and restores running (preflight/setup/active). */
  runningSnapshots: Map<string, number>;
  runningRestores: Array<{ hostId: string; kind: string; count: number }>;
  /** VMs per host id and state (unreachable: their QMP monitor could not be reached). */
  vms: Array<{ hostId: string; state: string; count: number }>;
  /** VMs per host id whose monitor some dashboard process owns (an unexpired VmLease). */
  leasedVms: Map<string, number>;
  /** VMs per host id whose QMP session is open in THIS process. */
  openSessions: Map<string, number>;
  restores: Array<{ kind: string; status: string; count: number }>;
  /** Schedule runs by trigger and final status (running ones are not counted). */
  scheduleRuns: Array<{ trigger: string; status: string; count: number }>;
  /** firedAt − scheduledFor of runs fired on time by the scheduler (trigger "scheduled"). */
  latenessSeconds: HistogramData;
  /** Enabled schedules whose next occurrence is due and not fired yet, and the oldest one's lateness. */
  overdueSchedules: { count: number; maxSeconds: number };
  /** Snapshots deleted by schedules' retention (SchedulePrune rows). */
  retentionDeletions: number;
}

const num = (v: unknown): number => (typeof v === "bigint" ? Number(v) : Number(v ?? 0));

/**
 * `ARRAY[count(*) FILTER (WHERE <column> <= b1 × scale), …]`: cumulative bucket counts of one histogram,
 * in the same aggregate pass. The column is compared unscaled (no arithmetic per row); the bounds are this
 * module's constants (never input), written as numeric literals.
 */
function bucketArray(column: string, bounds: number[], scale = 1): Prisma.Sql {
  const cells = bounds.map(
    (b) => `count(*) FILTER (WHERE ${column} <= ${Math.round(Number(b) * scale * 1e6) / 1e6})::float8`,
  );
  return Prisma.raw(`ARRAY[${cells.join(", ")}]::float8[]`);
}

function histogram(buckets: unknown, sum: unknown, count: unknown): HistogramData {
  return { buckets: (buckets as number[]).map(num), sum: num(sum), count: num(count) };
}

/** Reads everything /metrics reports about the fleet. `openSessionVmIds`: this process's open QMP sessions. */
export async function readFleetStats(openSessionVmIds: string[]): Promise<FleetStats> {
  return db().$transaction(
    async (tx) => {
      // One pass over the snapshot rows: counts by status and mode, and the histograms' aggregates (used
      // for the completed rows only; computing them for the few others costs less than a second scan).
      const snapshots = await tx.$queryRaw<
        Array<{
          status: string;
          mode: string;
          n: number;
          d_b: number[];
          d_sum: number;
          d_n: number;
          p_b: number[];
          p_sum: number;
          p_n: number;
          s_b: number[];
          s_sum: number;
          s_n: number;
        }>
      >`
        SELECT status::text AS status, replace(mode::text, '_', '-') AS mode, count(*)::float8 AS n,
          ${bucketArray(`"totalMs"`, DURATION_BUCKETS_S, 1000)} AS d_b,
          coalesce(sum("totalMs") / 1000, 0)::float8 AS d_sum, count("totalMs")::float8 AS d_n,
          ${bucketArray(`"guestPauseMs"`, GUEST_PAUSE_BUCKETS_S, 1000)} AS p_b,
          coalesce(sum("guestPauseMs") / 1000, 0)::float8 AS p_sum, count("guestPauseMs")::float8 AS p_n,
          ${bucketArray(`"sizeBytes"`, SIZE_BUCKETS_BYTES)} AS s_b,
          coalesce(sum("sizeBytes"), 0)::float8 AS s_sum, count("sizeBytes")::float8 AS s_n
        FROM "Snapshot" GROUP BY 1, 2`;
      const completed = snapshots.filter((r) => r.status === "completed");

      const hosts = await tx.$queryRaw<Array<{ id: string; name: string; kind: string; healthy: boolean }>>`
        SELECT id::text AS id, name, kind::text AS kind, healthy FROM "Host" ORDER BY name`;

      const inFlightSnapshots = await tx.$queryRaw<Array<{ hostId: string; status: string; n: number }>>`
        SELECT "hostId"::text AS "hostId", status::text AS status, count(*)::float8 AS n
        FROM "Snapshot" WHERE status IN ('queued', 'preflight', 'setup', 'active') GROUP BY 1, 2`;

      const restoresByHost = await tx.$queryRaw<Array<{ hostId: string; status: string; kind: string; n: number }>>`
        SELECT "hostId"::text AS "hostId", status::text AS status, kind::text AS kind, count(*)::float8 AS n
        FROM "Restore" WHERE status IN ('queued', 'setup', 'active') GROUP BY 1, 2, 3`;

      const restores = await tx.$queryRaw<Array<{ kind: string; status: string; n: number }>>`
        SELECT kind::text AS kind, status::text AS status, count(*)::float8 AS n
        FROM "Restore" WHERE status IN ('completed', 'failed') GROUP BY 1, 2`;

      const vms = await tx.$queryRaw<Array<{ hostId: string; state: string; n: number }>>`
        SELECT "hostId"::text AS "hostId", state::text AS state, count(*)::float8 AS n FROM "Vm" GROUP BY 1, 2`;

      // Lease times are the database's UTC clock (lib/fleet/vm-lease.ts), never this machine's.
      const leases = await tx.$queryRaw<Array<{ hostId: string; n: number }>>`
        SELECT v."hostId"::text AS "hostId", count(*)::float8 AS n
        FROM "VmLease" l JOIN "Vm" v ON v.id = l."vmId"
        WHERE l."expiresAt" > now() AT TIME ZONE 'UTC' GROUP BY 1`;

      const sessions = openSessionVmIds.length
        ? await tx.$queryRaw<Array<{ hostId: string; n: number }>>`
            SELECT "hostId"::text AS "hostId", count(*)::float8 AS n FROM "Vm"
            WHERE id = ANY(${openSessionVmIds}::uuid[]) GROUP BY 1`
        : [];

      const runs = await tx.$queryRaw<Array<{ trigger: string; status: string; n: number }>>`
        SELECT trigger::text AS trigger, status::text AS status, count(*)::float8 AS n
        FROM "ScheduleRun" WHERE status <> 'running' GROUP BY 1, 2`;

      const latenessExpr = `greatest(0, extract(epoch FROM "firedAt" - "scheduledFor"))`;
      const [lateness] = await tx.$queryRaw<Array<{ b: number[]; sum: number; n: number }>>`
        SELECT ${bucketArray(`(${latenessExpr})`, LATENESS_BUCKETS_S)} AS b,
          coalesce(sum(${Prisma.raw(latenessExpr)}), 0)::float8 AS sum, count(*)::float8 AS n
        FROM "ScheduleRun" WHERE trigger = 'scheduled'`;

      const [overdue] = await tx.$queryRaw<Array<{ n: number; max: number }>>`
        SELECT count(*)::float8 AS n,
          coalesce(max(extract(epoch FROM (now() AT TIME ZONE 'UTC') - "nextRunAt")), 0)::float8 AS max
        FROM "Schedule" WHERE enabled AND "nextRunAt" < now() AT TIME ZONE 'UTC'`;

      const [pruned] = await tx.$queryRaw<Array<{ n: number }>>`SELECT count(*)::float8 AS n FROM "SchedulePrune"`;

      const perMode = (pick: (r: (typeof completed)[number]) => HistogramData) =>
        new Map(completed.map((r) => [r.mode, pick(r)]));
      return {
        snapshots: snapshots.map((r) => ({ status: r.status, mode: r.mode, count: num(r.n) })),
        durationSeconds: perMode((r) => histogram(r.d_b, r.d_sum, r.d_n)),
        guestPauseSeconds: perMode((r) => histogram(r.p_b, r.p_sum, r.p_n)),
        sizeBytes: perMode((r) => histogram(r.s_b, r.s_sum, r.s_n)),
        hosts,
        queuedSnapshots: sumBy(inFlightSnapshots.filter((r) => r.status === "queued")),
        queuedRestores: restoresByHost
          .filter((r) => r.status === "queued")
          .map((r) => ({ hostId: r.hostId, kind: r.kind, count: num(r.n) })),
        runningSnapshots: sumBy(inFlightSnapshots.filter((r) => r.status !== "queued")),
        runningRestores: restoresByHost
          .filter((r) => r.status !== "queued")
          .map((r) => ({ hostId: r.hostId, kind: r.kind, count: num(r.n) })),
        vms: vms.map((r) => ({ hostId: r.hostId, state: r.state, count: num(r.n) })),
        leasedVms: sumBy(leases),
        openSessions: sumBy(sessions),
        restores: restores.map((r) => ({ kind: r.kind, status: r.status, count: num(r.n) })),
        scheduleRuns: runs.map((r) => ({ trigger: r.trigger, status: r.status, count: num(r.n) })),
        latenessSeconds: histogram(lateness?.b ?? LATENESS_BUCKETS_S.map(() => 0), lateness?.sum, lateness?.n),
        overdueSchedules: { count: num(overdue?.n), maxSeconds: num(overdue?.max) },
        retentionDeletions: num(pruned?.n),
      };
    },
    { isolationLevel: Prisma.TransactionIsolationLevel.RepeatableRead },
  );
}

function sumBy(rows: Array<{ hostId: string; n: number }>): Map<string, number> {
  const out = new Map<string, number>();
  for (const r of rows) out.set(r.hostId, (out.get(r.hostId) ?? 0) + num(r.n));
  return out;
}
