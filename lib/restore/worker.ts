// The restore worker of a process: takes "restore.run" jobs (rollbacks and verifications) from the
// queue, runs each under the advisory lock job:<restoreId> (so crash recovery tells a live run from a
// dead one), verifications only once admitted under the per-host limits (admission.ts); and sweeps — at
// start and every minute — for restores a dead process left in flight: they are failed with what is
// known (the steps done, the safety snapshot to undo with).
// Invariants: the handler never throws (a restore is never retried by the queue: a rollback must not
// re-run behind the operator's back); stop() waits for running restores — a rollback is never
// abandoned between stopping the VM and starting it again.
import { logIgnored } from "../best-effort";
import { lockKey, tryAdvisoryLock } from "../db/advisory-locks";
import { db } from "../db/client";
import { requireBoss, RESTORE_RUN_QUEUE, WORKER_POLLING, type RestoreRunJobData } from "../jobs/boss";
import type { Logger } from "../logger";
import { NotOwnerError } from "../fleet/errors";
import { holdVm } from "../fleet/vm-lease";
import { admitVerification, releaseVerification } from "./admission";
import { transitionRestore } from "./jobs";
import { runRollback } from "./rollback";
import { runVerify } from "./verify";

const SWEEP_MS = 60_000;
const ADMISSION_RETRY_S = 2;

export interface RestoreWorkerOptions {
  log: Logger;
  concurrency?: number;
  /** Verification: how long the sandboxed guest runs (tests shorten it). */
  verifyRunMs?: number;
}

export async function handleRestoreRun(restoreId: string, opts: RestoreWorkerOptions): Promise<void> {
  const { log } = opts;
  try {
    const row = await db().restore.findUnique({ where: { id: restoreId }, select: { kind: true, status: true } });
    if (!row || row.status !== "queued") return;
    if (row.kind === "verify") {
      const a = await admitVerification(restoreId);
      if (!a.admitted) {
        if (a.reason === "not queued") return;
        const data: RestoreRunJobData = { restoreId };
        await requireBoss().send(RESTORE_RUN_QUEUE, data, { startAfter: ADMISSION_RETRY_S });
        return;
      }
    }
    // A rollback drives the VM's monitor: only the process owning it (lib/fleet/vm-lease.ts) runs it;
    // elsewhere it goes back to the queue until the owner takes it (never failed for that).
    let unhold: (() => void) | undefined;
    if (row.kind === "rollback") {
      const { vmId } = await db().restore.findUniqueOrThrow({ where: { id: restoreId }, select: { vmId: true } });
      try {
        unhold = await holdVm(vmId);
      } catch (err) {
        if (!(err instanceof NotOwnerError)) throw err;
        const data: RestoreRunJobData = { restoreId };
        await requireBoss().send(RESTORE_RUN_QUEUE, data, { startAfter: 1 });
        return;
      }
    }
    const lock = await tryAdvisoryLock(lockKey("job", restoreId)).catch((err: unknown) => {
      unhold?.();
      throw err;
    });
    if (!lock) {
      unhold?.();
      return; // another worker runs it
    }
    try {
      const again = await db().restore.findUnique({ where: { id: restoreId }, select: { status: true } });
      if (again?.status !== "queued") return;
      if (row.kind === "rollback") await runRollback(restoreId, { log });
      else await runVerify(restoreId, { log, runMs: opts.verifyRunMs });
    } finally {
      await lock.release();
      unhold?.();
      if (row.kind === "verify")
        await releaseVerification(restoreId).catch(
          logIgnored("a slot left behind is freed by the next admission once the restore ended", log),
        );
    }
  } catch (err) {
    log.error({ err, restore: restoreId }, "restore job handler failed");
  }
}

/** Fails restores whose process died mid-run (their job lock is free). Returns how many. */
export async function recoverInterruptedRestores(log: Logger): Promise<number> {
  const rows = await db().restore.findMany({
    where: { status: { in: ["setup", "active"] } },
    select: { id: true, kind: true, status: true, safetySnapshotId: true, result: true },
  });
  let n = 0;
  for (const r of rows) {
    const lock = await tryAdvisoryLock(lockKey("job", r.id));
    if (!lock) continue;
    try {
      const steps = (r.result as { steps?: string[] } | null)?.steps ?? [];
      const message =
        r.kind === "verify"
          ? "the dashboard restarted during the verification; its sandbox QEMU died with it (the VM was never touched). Verify again"
          : `the dashboard restarted during the rollback (it was ${r.status}; steps done: ${steps.length ? steps.join("; ") : "none"}). ` +
            (r.safetySnapshotId
              ? `Check the VM: if it is stopped or not where it should be, restore the safety snapshot ${r.safetySnapshotId} (its disks just before the rollback) or the snapshot again`
              : "No safety snapshot was taken: the VM's disks were not changed");
      await transitionRestore(r.id, "failed", {
        detail: message,
        data: { finishedAt: new Date(), errorClass: "interrupted", errorMessage: message },
      });
      n++;
    } catch (err) {
      log.debug({ err, restore: r.id }, "interrupted restore changed meanwhile");
    } finally {
      await lock.release();
    }
  }
  // Queued rows whose queue entry is gone.
  const queued = await db().restore.findMany({ where: { status: "queued" }, select: { id: true } });
  for (const { id } of queued) {
    const jobs = await requireBoss().findJobs<RestoreRunJobData>(RESTORE_RUN_QUEUE, { data: { restoreId: id } });
    if (jobs.some((j) => ["created", "retry", "active"].includes(j.state))) continue;
    await transitionRestore(id, "failed", {
      detail: "the job queue lost this job",
      data: {
        finishedAt: new Date(),
        errorClass: "interrupted",
        errorMessage: "the job queue lost this job before it ran; start it again",
      },
    }).catch(logIgnored("the restore changed meanwhile (it started or ended): nothing to fail", log));
    n++;
  }
  return n;
}

export async function startRestoreWorker(opts: RestoreWorkerOptions): Promise<() => Promise<void>> {
  const { log } = opts;
  const boss = requireBoss();
  const sweep = async () => {
    try {
      const n = await recoverInterruptedRestores(log);
      if (n) log.warn({ recovered: n }, "failed restores left behind by a dead process");
    } catch (err) {
      log.warn({ err }, "restore recovery sweep failed");
    }
  };
  await sweep();
  await boss.work<RestoreRunJobData>(
    RESTORE_RUN_QUEUE,
    { localConcurrency: opts.concurrency ?? 2, ...WORKER_POLLING },
    async ([job]) => {
      if (job) await handleRestoreRun(job.data.restoreId, opts);
    },
  );
  const timer = setInterval(() => void sweep(), SWEEP_MS);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await boss
      .offWork(RESTORE_RUN_QUEUE, { wait: true })
      .catch((err) => log.warn({ err }, "stopping the restore worker failed"));
  };
}
