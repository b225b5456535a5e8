// The snapshot worker of a process: takes "snapshot.run" jobs from the queue (pg-boss), asks the
// admission for a slot (per-host and fleet limits), runs the job (execute-job.ts), and sweeps — at
// start and every minute — for jobs and deletions a dead process left behind (recovery.ts,
// deletion.ts) and for VMs whose disks drifted from what their snapshots recorded (disk-drift.ts).
// Invariants: the handler never throws (the queue retries nothing itself); a job whose handler failed
// before its run began (a database or monitor hiccup) goes back to the queue with a backoff, and is
// failed with the reason after HANDLER_ATTEMPTS such failures; a job that is not
// admitted stays `queued` and is re-enqueued for later; a job of a VM another process owns
// (lib/fleet/vm-lease.ts) stays `queued` and goes back to the queue until the owner takes it — it is
// never failed for that; stop() waits for running snapshots, which must not be abandoned mid-stream (QEMU.md §2).
import { requireBoss, SNAPSHOT_RUN_QUEUE, WORKER_POLLING, type SnapshotRunJobData } from "../jobs/boss";
import type { Logger } from "../logger";
import { admitSnapshot, releaseSnapshot } from "./admission";
import { db } from "../db/client";
import { databaseErrorText } from "../db/error-text";
import { resumeInterruptedDeletions } from "./deletion";
import { checkDiskDrift } from "./disk-drift";
import { executeSnapshotJob, type ExecuteSnapshotJobOptions } from "./execute-job";
import { transitionSnapshot } from "./jobs";
import { clearResolvedAttention } from "./guest-attention";
import { recoverInterruptedSnapshots } from "./recovery";
import { NotOwnerError } from "../fleet/errors";
import { holdVm } from "../fleet/vm-lease";

const SWEEP_MS = 60_000;
/** A job of a VM owned by another process goes back to the queue for this long (its owner polls every second). */
const ROUTE_RETRY_S = 1;
/** Deliveries of one job whose handler may fail before its run begins; they wait 2, 4, 8, 16 s in between. */
const HANDLER_ATTEMPTS = 5;

export interface SnapshotWorkerOptions extends Omit<ExecuteSnapshotJobOptions, "log"> {
  log: Logger;
  /** Snapshots this process runs at once (different VMs; admission limits per host apply on top). */
  concurrency?: number;
  /** How often the recovery sweep runs (default 60 s): the bound on how long a dead process's job stays unreconciled. */
  sweepMs?: number;
}

/** Runs one queued job if admitted; otherwise re-enqueues it for when a slot may be free. */
export async function handleSnapshotRun(
  snapshotId: string,
  opts: SnapshotWorkerOptions,
  handlerFailures = 0,
): Promise<void> {
  const { log } = opts;
  let unhold: (() => void) | undefined;
  const requeue = () =>
    requireBoss().send(SNAPSHOT_RUN_QUEUE, { snapshotId } satisfies SnapshotRunJobData, { startAfter: ROUTE_RETRY_S });
  try {
    // Only the VM's owner runs its jobs: elsewhere the job goes back to the queue, untouched.
    const target = await db().snapshot.findUnique({ where: { id: snapshotId }, select: { vmId: true, status: true } });
    if (target?.status === "queued") {
      try {
        unhold = await holdVm(target.vmId);
      } catch (err) {
        if (!(err instanceof NotOwnerError)) throw err;
        log.debug(
          { snapshot: snapshotId, owner: err.owner },
          "the VM is owned by another process: the job goes back to the queue for it",
        );
        await requeue();
        return;
      }
    }
    const admission = await admitSnapshot(snapshotId);
    if (!admission.admitted) {
      if (admission.retryAfterMs === undefined) return; // cancelled or deleted meanwhile
      log.debug({ snapshot: snapshotId, reason: admission.reason }, "snapshot waits for a slot");
      const data: SnapshotRunJobData = { snapshotId };
      await requireBoss().send(SNAPSHOT_RUN_QUEUE, data, { startAfter: Math.ceil(admission.retryAfterMs / 1000) });
      return;
    }
    // Release the slot only when this process ran the job: a duplicate delivery finds the job locked
    // by the process running it, and freeing that run's slot would break the per-host limit. (A slot
    // also stops counting once its snapshot is completed, failed or cancelled.)
    const ran = await executeSnapshotJob(snapshotId, opts);
    if (ran)
      await releaseSnapshot(snapshotId).catch((err: unknown) =>
        log.warn(
          { err, snapshot: snapshotId },
          "releasing the snapshot's admission slot failed (it stops counting once the job is final)",
        ),
      );
    else if (
      (await db().snapshot.findUnique({ where: { id: snapshotId }, select: { status: true } }))?.status === "queued"
    ) {
      // Not run and still queued (the VM's lease moved meanwhile): back to the queue, never lost. Its
      // slot is kept (a duplicate delivery must not free a running job's slot; re-admission is idempotent).
      await requeue();
    }
  } catch (err) {
    await retryAfterHandlerFailure(snapshotId, handlerFailures + 1, err, log);
  } finally {
    unhold?.();
  }
}

/**
 * A handler that failed while the job is still `queued` (its run never began: admission or the VM's
 * lease hit a database or monitor error) puts it back with a backoff; the last attempt fails it with
 * the reason, so a job is neither lost nor retried forever. Never throws.
 */
async function retryAfterHandlerFailure(snapshotId: string, failures: number, err: unknown, log: Logger) {
  try {
    const row = await db().snapshot.findUnique({ where: { id: snapshotId }, select: { status: true } });
    if (row?.status !== "queued") {
      log.error({ err, snapshot: snapshotId }, "snapshot job handler failed");
      return;
    }
    if (failures >= HANDLER_ATTEMPTS) {
      log.error({ err, snapshot: snapshotId, failures }, "snapshot job handler failed for the last time");
      await transitionSnapshot(snapshotId, "failed", {
        detail: "the job could not be started",
        data: {
          finishedAt: new Date(),
          errorClass: "interrupted",
          errorMessage: `the snapshot could not be started (${failures} attempts; last: ${databaseErrorText(err)}); take it again`,
        },
      });
      return;
    }
    log.warn({ err, snapshot: snapshotId, failures }, "snapshot job handler failed before the run; the job is retried");
    const data: SnapshotRunJobData = { snapshotId, handlerFailures: failures };
    await requireBoss().send(SNAPSHOT_RUN_QUEUE, data, { startAfter: 2 ** failures });
  } catch (retryErr) {
    // The database itself is away: the sweep's recoverLostQueuedSnapshots settles the row once it is back.
    log.error({ err, retryErr, snapshot: snapshotId }, "snapshot job handler failed, and so did putting the job back");
  }
}

/**
 * Fails queued rows whose queue entry is gone (a job pg-boss already failed or expired): without
 * this, the VM would answer 409 forever.
 */
export async function recoverLostQueuedSnapshots(log: Logger): Promise<number> {
  const boss = requireBoss();
  const queued = await db().snapshot.findMany({ where: { status: "queued", deletedAt: null }, select: { id: true } });
  let lost = 0;
  for (const { id } of queued) {
    const jobs = await boss.findJobs<SnapshotRunJobData>(SNAPSHOT_RUN_QUEUE, { data: { snapshotId: id } });
    if (jobs.some((j) => ["created", "retry", "active"].includes(j.state))) continue;
    await transitionSnapshot(id, "failed", {
      detail: "the job queue lost this job",
      data: {
        finishedAt: new Date(),
        errorClass: "interrupted",
        errorMessage: "the job queue lost this job before it ran; take the snapshot again",
      },
    }).catch((err) => log.debug({ err, snapshot: id }, "queued snapshot changed meanwhile"));
    lost++;
  }
  return lost;
}

/** Re-checks the disks of every reachable VM that has snapshots; findings land on the VM row. */
async function checkDriftOfVmsWithSnapshots(log: Logger): Promise<void> {
  const vms = await db().vm.findMany({
    where: { state: { in: ["running", "paused"] }, snapshots: { some: { deletedAt: null, status: "completed" } } },
    select: { id: true },
  });
  for (const { id } of vms) {
    const findings = await checkDiskDrift(id).catch((err: unknown) => {
      log.warn({ err, vm: id }, "checking the VM's disks against its snapshots failed");
      return null;
    });
    if (findings?.length) log.warn({ vm: id, findings }, "the VM's disks no longer match what its snapshots recorded");
  }
}

export async function startSnapshotWorker(opts: SnapshotWorkerOptions): Promise<() => Promise<void>> {
  const { log } = opts;
  const boss = requireBoss();
  const sweep = async () => {
    try {
      const n =
        (await recoverInterruptedSnapshots(log, { pollMs: opts.pollIntervalMs })) +
        (await recoverLostQueuedSnapshots(log));
      if (n) log.warn({ recovered: n }, "recovered snapshot jobs left behind by a dead process");
      const d = await resumeInterruptedDeletions(log);
      if (d) log.warn({ finished: d }, "finished deletions left behind by a dead process");
      await checkDriftOfVmsWithSnapshots(log);
      await clearResolvedAttention(log);
    } catch (err) {
      log.warn({ err }, "snapshot recovery sweep failed");
    }
  };
  await sweep();
  await boss.work<SnapshotRunJobData>(
    SNAPSHOT_RUN_QUEUE,
    { localConcurrency: opts.concurrency ?? 4, ...WORKER_POLLING },
    async ([job]) => {
      if (job) await handleSnapshotRun(job.data.snapshotId, opts, job.data.handlerFailures);
    },
  );
  const timer = setInterval(() => void sweep(), opts.sweepMs ?? SWEEP_MS);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await boss
      .offWork(SNAPSHOT_RUN_QUEUE, { wait: true })
      .catch((err) => log.warn({ err }, "stopping the snapshot worker failed"));
  };
}
