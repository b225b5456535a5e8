// A sandbox verification runs a second QEMU on the snapshot's host: it takes a slot of the same
// per-host and fleet limits as snapshots (lib/snapshots/admission.ts), under the same advisory lock, as
// a SnapshotAdmission row keyed by the restore's id (that table's cleanup keeps it while the restore
// runs). Verifications never wait for a VM's own snapshots: only the host and fleet counts apply.
import { PROCESS_ID } from "../config";
import { ADMISSION_LOCK, advisoryXactLock } from "../db/advisory-locks";
import { db } from "../db/client";
import { getLimits } from "../snapshots/admission";

export async function admitVerification(restoreId: string): Promise<{ admitted: boolean; reason?: string }> {
  return db().$transaction(async (tx) => {
    await advisoryXactLock(tx, ADMISSION_LOCK);
    const r = await tx.restore.findUnique({
      where: { id: restoreId },
      select: { hostId: true, vmId: true, status: true },
    });
    if (!r || r.status !== "queued") return { admitted: false, reason: "not queued" };
    const limits = await getLimits(r.hostId, tx);
    await tx.$executeRaw`
      DELETE FROM "SnapshotAdmission" a
      WHERE NOT EXISTS (SELECT 1 FROM "Snapshot" s WHERE s.id = a."snapshotId" AND s."deletedAt" IS NULL AND s.status NOT IN ('completed', 'failed', 'cancelled'))
        AND NOT EXISTS (SELECT 1 FROM "Restore" x WHERE x.id = a."snapshotId" AND x.status NOT IN ('completed', 'failed'))`;
    const [c] = await tx.$queryRaw<{ total: number; host: number; mine: number }[]>`
      SELECT count(*)::int AS total,
             count(*) FILTER (WHERE "hostId" = ${r.hostId}::uuid)::int AS host,
             count(*) FILTER (WHERE "snapshotId" = ${restoreId}::uuid)::int AS mine
      FROM "SnapshotAdmission"`;
    if (c?.mine) return { admitted: true };
    if ((c?.host ?? 0) >= limits.host)
      return {
        admitted: false,
        reason: `waiting for a slot: ${c?.host} jobs running on this host (limit ${limits.host})`,
      };
    if ((c?.total ?? 0) >= limits.global)
      return {
        admitted: false,
        reason: `waiting for a slot: ${c?.total} jobs running in the fleet (limit ${limits.global})`,
      };
    await tx.snapshotAdmission.create({
      data: { snapshotId: restoreId, hostId: r.hostId, vmId: r.vmId, admittedBy: PROCESS_ID },
    });
    return { admitted: true };
  });
}

export async function releaseVerification(restoreId: string): Promise<void> {
  await db().snapshotAdmission.deleteMany({ where: { snapshotId: restoreId } });
}
