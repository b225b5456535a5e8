// Admission of snapshot jobs: a per-host limit (default 2 running snapshots per host) and a global
// limit, holding across every worker process on the database. A job that is not admitted stays
// `queued` (visible as such) and asks again later.
//
// How it holds across processes: every admission runs in one transaction that first takes a
// transaction-scoped advisory lock (one key for the whole fleet), so count-then-insert is serialised
// everywhere; the slot is a SnapshotAdmission row. A slot counts only while its snapshot is not
// terminal (completed, failed, cancelled) and not deleted — so a worker that dies mid-snapshot frees
// its slot as soon as the snapshot is marked failed, with no release call needed; releaseSnapshot()
// only frees it sooner. Admission is idempotent: a job redelivered after a crash is admitted again.
import { PROCESS_ID } from "../config";
import { ADMISSION_LOCK, advisoryXactLock } from "../db/advisory-locks";
import { db } from "../db/client";
import { NotFoundError } from "../errors";

export const DEFAULT_HOST_LIMIT = 2;
export const DEFAULT_GLOBAL_LIMIT = 8;
/** How soon a job that was not admitted should ask again. */
export const ADMISSION_RETRY_MS = 2_000;

export interface AdmissionResult {
  admitted: boolean;
  /** Why not, in words (shown while the job waits). */
  reason?: string;
  /** Set when asking again makes sense; absent when the job must not run at all (e.g. cancelled). */
  retryAfterMs?: number;
  running: { host: number; global: number };
  limits: { host: number; global: number };
}

export interface Limits {
  host: number;
  global: number;
}

export async function getLimits(
  hostId: string,
  client: Pick<ReturnType<typeof db>, "concurrencyLimit"> = db(),
): Promise<Limits> {
  const rows = await client.concurrencyLimit.findMany({
    where: { scope: { in: ["global", "host-default", `host:${hostId}`] } },
  });
  const get = (scope: string) => rows.find((r) => r.scope === scope)?.maxRunning;
  return {
    host: get(`host:${hostId}`) ?? get("host-default") ?? DEFAULT_HOST_LIMIT,
    global: get("global") ?? DEFAULT_GLOBAL_LIMIT,
  };
}

/** scope: "global", "host-default" or "host:<hostId>". */
export async function setLimit(scope: string, maxRunning: number): Promise<void> {
  await db().concurrencyLimit.upsert({
    where: { scope },
    create: { scope, maxRunning },
    update: { maxRunning, updatedAt: new Date() },
  });
}

/**
 * Asks for a slot for a queued snapshot. Call it in the snapshot worker before the job leaves
 * `queued`; run the job only when `admitted`.
 */
export async function admitSnapshot(snapshotId: string, admittedBy = PROCESS_ID): Promise<AdmissionResult> {
  return db().$transaction(async (tx) => {
    await advisoryXactLock(tx, ADMISSION_LOCK);
    const snapshot = await tx.snapshot.findUnique({
      where: { id: snapshotId },
      select: { id: true, hostId: true, vmId: true, status: true, deletedAt: true },
    });
    if (!snapshot) throw new NotFoundError("snapshot not found", { snapshotId });
    const limits = await getLimits(snapshot.hostId, tx);
    // Free the slots of snapshots that ended (or whose worker died and were marked failed).
    await tx.$executeRaw`
      DELETE FROM "SnapshotAdmission" a
      WHERE NOT EXISTS (
        SELECT 1 FROM "Snapshot" s
        WHERE s.id = a."snapshotId" AND s."deletedAt" IS NULL
          AND s.status NOT IN ('completed', 'failed', 'cancelled'))
        -- a sandbox verification's slot (lib/restore/admission.ts) counts while it runs
        AND NOT EXISTS (SELECT 1 FROM "Restore" r WHERE r.id = a."snapshotId" AND r.status NOT IN ('completed', 'failed'))`;
    const [counts] = await tx.$queryRaw<{ total: number; host: number; vm: number; mine: number }[]>`
      SELECT count(*)::int AS total,
             count(*) FILTER (WHERE "hostId" = ${snapshot.hostId}::uuid)::int AS host,
             count(*) FILTER (WHERE "vmId" = ${snapshot.vmId}::uuid AND "snapshotId" <> ${snapshotId}::uuid)::int AS vm,
             count(*) FILTER (WHERE "snapshotId" = ${snapshotId}::uuid)::int AS mine
      FROM "SnapshotAdmission"`;
    const running = { host: counts?.host ?? 0, global: counts?.total ?? 0 };
    if (counts?.mine) return { admitted: true, running, limits };
    if (snapshot.deletedAt || snapshot.status !== "queued") {
      return {
        admitted: false,
        reason: `the snapshot is ${snapshot.deletedAt ? "deleted" : snapshot.status}`,
        running,
        limits,
      };
    }
    const wait = (reason: string): AdmissionResult => ({
      admitted: false,
      reason,
      retryAfterMs: ADMISSION_RETRY_MS,
      running,
      limits,
    });
    if (counts?.vm) return wait("another snapshot of this VM is running");
    if (running.host >= limits.host) {
      return wait(`waiting for a slot: ${running.host} snapshots running on this host (limit ${limits.host})`);
    }
    if (running.global >= limits.global) {
      return wait(`waiting for a slot: ${running.global} snapshots running in the fleet (limit ${limits.global})`);
    }
    await tx.snapshotAdmission.create({
      data: { snapshotId, hostId: snapshot.hostId, vmId: snapshot.vmId, admittedBy },
    });
    return { admitted: true, running: { host: running.host + 1, global: running.global + 1 }, limits };
  });
}

/** Frees a snapshot's slot now (optional: a terminal snapshot's slot is freed anyway). */
export async function releaseSnapshot(snapshotId: string): Promise<void> {
  await db().snapshotAdmission.deleteMany({ where: { snapshotId } });
}
