// The operator's way out of a job that stays in flight (POST /api/snapshots/{id}/force-fail, audited by
// the gate): the row is failed at once with the reason, whatever its worker is doing. Normally nothing
// needs it — a live worker ends its job and recovery.ts reconciles a dead one within a sweep — but a
// worker stuck on a hung QEMU, or a stream that never ends, must not hold the VM (409 for every new
// snapshot) until someone restarts things.
// What it does NOT do, on purpose: cut QEMU's stream or kill a sink (QEMU.md §2 — on 7.2 that freezes
// the guest). A run still going in this process is aborted (it then lets QEMU finish into the discard
// sink and rolls back, as a cancel does); one in another process sees the cancel flag. Its artifacts
// stay in the ledger, and deleting the failed snapshot removes them once no process holds them.
// Invariants: only a job in a non-final state is failed; the transition is checked and recorded like any
// other (jobs.ts); never resumes or pauses a guest.
import { lockKey, tryAdvisoryLock } from "../db/advisory-locks";
import { db } from "../db/client";
import { ConflictError, NotFoundError } from "../errors";
import type { Logger } from "../logger";
import { logger } from "../logger";
import { runningJobAborts, transitionSnapshot } from "./jobs";
import { undoDeadRun } from "./recovery";
import type { SnapshotJson } from "./snapshot-json";
import { RUNNING_SNAPSHOT_STATUSES } from "../validations/snapshot";

export async function forceFailSnapshot(id: string, opts: { by?: string; log?: Logger } = {}): Promise<SnapshotJson> {
  const row = await db().snapshot.findUnique({ where: { id }, select: { status: true, startedAt: true } });
  if (!row) throw new NotFoundError(`no snapshot with id ${id}`);
  if (!RUNNING_SNAPSHOT_STATUSES.includes(row.status))
    throw new ConflictError(`the snapshot is already ${row.status}: nothing to force`, { status: row.status });
  await db().snapshot.update({ where: { id }, data: { cancelRequested: true } });
  runningJobAborts.get(id)?.abort();
  const message =
    `force-failed by ${opts.by ?? "an operator"} while it was ${row.status}. ` +
    "Anything it created stays recorded on this snapshot: deleting it removes what no process still uses.";
  try {
    const json = await transitionSnapshot(id, "failed", {
      detail: message,
      data: { finishedAt: new Date(), errorClass: "forced", errorMessage: message },
    });
    opts.log?.warn({ snapshot: id, was: row.status, by: opts.by }, "snapshot force-failed by an operator");
    // A dead run (its job lock is free): put back what it changed on the VM now, as recovery would.
    const lock = await tryAdvisoryLock(lockKey("job", id));
    if (lock) {
      try {
        const r = await db().snapshot.findUnique({ where: { id }, select: { vmId: true, undoOnCrash: true } });
        if (r && r.undoOnCrash) await undoDeadRun(id, r.vmId, r.undoOnCrash, opts.log ?? logger);
      } finally {
        await lock.release();
      }
    }
    return json;
  } catch (err) {
    // It ended by itself between the read and the transition.
    const now = await db().snapshot.findUnique({ where: { id }, select: { status: true } });
    if (now && !RUNNING_SNAPSHOT_STATUSES.includes(now.status))
      throw new ConflictError(`the snapshot ended meanwhile (${now.status})`, { status: now.status });
    throw err;
  }
}
