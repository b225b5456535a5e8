// The worker body of one snapshot job: runs it against the VM's QMP session if it is still queued,
// persisting every step through jobs.ts (status changes, progress ticks at most every 400 ms), the
// artifact ledger before anything exists on the host (artifacts.ts), what a crash would leave changed
// on the VM (crash-undo.ts), and the final outcome with its figures and files.
// Invariants: never throws; holds the advisory lock job:<id> for the whole run (recovery.ts tells a live
// job from a dead one by it); a job is run by at most one worker, and only by the process owning its
// VM (lib/fleet/vm-lease.ts): elsewhere it is left queued, untouched (the worker routes it to the owner).
import { logIgnored } from "../best-effort";
import { quiesceTimeoutMs } from "../config";
import { lockKey, tryAdvisoryLock, type HeldLock } from "../db/advisory-locks";
import { db } from "../db/client";
import { Prisma } from "../db/generated/client";
import { NotOwnerError } from "../fleet/errors";
import { parseLaunchFacts } from "../fleet/launch-json";
import { getVmSession } from "../fleet/sessions";
import { holdVm } from "../fleet/vm-lease";
import { hostAccessFor } from "../fleet/host-access";
import type { Logger } from "../logger";
import type { QmpClient } from "../qmp";
import type { SnapshotModeName } from "../validations/snapshot";
import { markGuestLeftPaused, markVmFrozen } from "./guest-attention";
import { RESUME_AFTER_STREAM_BYTES } from "./pause-steps";
import { getSnapshot, publishSnapshot, runningJobAborts, transitionSnapshot, vmDirName } from "./jobs";
import { runSnapshot, type SnapshotProgress, type SnapshotRunResult } from "./run-snapshot";
import type { SnapshotJson } from "./snapshot-json";
import { InvalidSnapshotTransitionError, type SnapshotStatusName } from "./state-machine";

const PROGRESS_PUBLISH_MS = 400;

export interface ExecuteSnapshotJobOptions {
  log: Logger;
  pollIntervalMs?: number;
  /** How often the worker reads the cancel flag set by another process. */
  cancelPollMs?: number;
  sinkDir?: string;
  /** Called after each status change is persisted (tests use it to act at a precise step). */
  afterStatus?: (status: SnapshotStatusName, snapshotId: string) => void | Promise<void>;
}

/**
 * The worker body for one job: runs it if it is still queued, persisting every step. Never throws;
 * returns the final JSON (or undefined when the job was not this worker's to run).
 */
export async function executeSnapshotJob(
  snapshotId: string,
  opts: ExecuteSnapshotJobOptions,
): Promise<SnapshotJson | undefined> {
  const log = opts.log.child({ snapshot: snapshotId });
  const lock = await tryAdvisoryLock(lockKey("job", snapshotId));
  if (!lock) {
    log.warn("snapshot job is already being run by another worker");
    return undefined;
  }
  // The lock lives on its own connection: a PostgreSQL restart drops it, and recovery in another
  // process would then take this live job for a dead one. Take it again as soon as the database is back.
  let relock: NodeJS.Timeout | undefined;
  let held: HeldLock | undefined = lock;
  const watch = (l: HeldLock) =>
    l.lost.then(() => {
      if (!held || held !== l) return;
      log.warn("the job lock's database connection was lost; taking the lock again");
      const retry = async () => {
        const again = await tryAdvisoryLock(lockKey("job", snapshotId)).catch(
          logIgnored("the database is still down: tried again in 1 s", log),
        );
        if (held !== l) return; // the job ended meanwhile
        if (again) {
          held = again;
          void watch(again);
        } else if (again === null)
          log.error("another process took this job's lock while it runs (it took the job for a dead one)");
        else relock = setTimeout(() => void retry(), 1000);
      };
      void retry();
    });
  void watch(lock);
  const controller = new AbortController();
  runningJobAborts.set(snapshotId, controller);
  let cancelTimer: NodeJS.Timeout | undefined;
  let unhold: (() => void) | undefined;
  try {
    const row = await db().snapshot.findUnique({
      where: { id: snapshotId },
      include: { vm: { include: { host: true } } },
    });
    if (!row || row.status !== "queued" || row.deletedAt) return undefined;
    const { vm } = row;
    try {
      unhold = await holdVm(vm.id, { vmName: vm.name });
    } catch (err) {
      if (!(err instanceof NotOwnerError)) throw err;
      log.info({ owner: err.owner }, "the VM is owned by another process: the job stays queued for it");
      return undefined;
    }
    const after = async (status: SnapshotStatusName) => {
      try {
        await opts.afterStatus?.(status, snapshotId);
      } catch (err) {
        log.warn({ err }, "afterStatus hook failed");
      }
    };
    try {
      // The VM's launch facts (discovery) become the snapshot's: the command line that restores it (lib/restore).
      await transitionSnapshot(snapshotId, "preflight", {
        data: { startedAt: new Date(), launch: vm.launch ?? Prisma.DbNull },
      });
    } catch (err) {
      // Cancelled (queued → cancelled) between our read and now: nothing to run.
      if (err instanceof InvalidSnapshotTransitionError) return undefined;
      throw err;
    }
    await after("preflight");

    let qmp: QmpClient;
    try {
      qmp = await getVmSession(vm.id);
    } catch (err) {
      return await finishJob(snapshotId, {
        status: "failed",
        error: { errorClass: "vm-unreachable", message: (err as Error).message },
      });
    }

    cancelTimer = setInterval(() => {
      db()
        .snapshot.findUnique({ where: { id: snapshotId }, select: { cancelRequested: true } })
        .then((r) => r?.cancelRequested && controller.abort())
        .catch((err) => log.debug({ err }, "reading the cancel flag failed"));
    }, opts.cancelPollMs ?? 500);

    let lastPublish = 0;
    const result = await runSnapshot({
      qmp,
      snapshotId,
      mode: row.mode.replace("_", "-") as SnapshotModeName,
      vmDirName: vmDirName(vm),
      hostKind: vm.host.kind,
      // The host-access seam (lib/fleet/host-access.ts): its files (local, SFTP, none on TLS) and how the vmstate gets there.
      hostFiles: hostAccessFor(vm.host).files,
      vmstateWriter: hostAccessFor(vm.host).vmstateWriter ?? undefined,
      snapshotRoot: vm.host.snapshotDir,
      bgSnapshotBlocker: vm.bgSnapshotBlocker,
      signal: controller.signal,
      pollIntervalMs: opts.pollIntervalMs,
      sinkDir: opts.sinkDir,
      log,
      // Quiesce asked (the VM's setting, the schedule's or the request's): the agent's socket is found from
      // the VM's command line and reached through the host-access seam (quiesce.ts).
      quiesce: row.quiesce
        ? {
            argv: parseLaunchFacts(vm.launch)?.argv ?? null,
            openSocket: hostAccessFor(vm.host).openSocket,
            timeoutMs: quiesceTimeoutMs(),
          }
        : undefined,
      hooks: {
        onPlan: async (artifacts) => {
          await db().snapshot.update({
            where: { id: snapshotId },
            data: { artifacts: artifacts as unknown as Prisma.InputJsonValue },
          });
        },
        onStatus: async (status, detail) => {
          if (status !== "preflight") await transitionSnapshot(snapshotId, status, { detail });
          await after(status);
        },
        onProgress: async (p) => {
          const now = Date.now();
          const publish = now - lastPublish >= PROGRESS_PUBLISH_MS;
          if (publish) lastPublish = now;
          // A progress tick is not worth a snapshot: the database away for a moment (restarted) is logged.
          await recordProgress(snapshotId, p, publish).catch((err: unknown) =>
            log.warn({ err }, "recording the snapshot's progress failed; it goes on"),
          );
        },
        onUndoChange: async (undo) => {
          await db().snapshot.update({
            where: { id: snapshotId },
            data: { undoOnCrash: undo ? (undo as Prisma.InputJsonValue) : Prisma.DbNull },
          });
        },
      },
    });
    // What the operator must act on (guest-attention.ts): shown on the VM's page.
    if (result.guestFrozen) await markVmFrozen(vm.id, snapshotId, result.guestFrozen, log);
    if (result.guestLeftPaused && !(await resumeThroughNewSession(vm.id, log)))
      await markGuestLeftPaused(vm.id, snapshotId, result.guestLeftPaused, log);
    return await finishJobPatiently(snapshotId, result, log);
  } catch (err) {
    log.error({ err }, "snapshot job failed unexpectedly");
    return await finishJob(snapshotId, {
      status: "failed",
      error: { errorClass: "internal", message: `unexpected error in the snapshot worker: ${(err as Error).message}` },
    }).catch((e) => {
      log.error({ err: e }, "could not mark the snapshot failed");
      return undefined;
    });
  } finally {
    clearInterval(cancelTimer);
    clearTimeout(relock);
    unhold?.();
    runningJobAborts.delete(snapshotId);
    const last = held;
    held = undefined;
    await last?.release();
  }
}

/** Records a progress tick of an active job; publishes it when asked (recovery.ts follows dead runs with it too). */
export async function recordProgress(id: string, p: SnapshotProgress, publish: boolean): Promise<void> {
  const { count } = await db().snapshot.updateMany({
    where: { id, status: "active" },
    data: {
      progress: p.progress,
      ramTotalBytes: BigInt(p.ramTotalBytes),
      ramTransferredBytes: BigInt(p.ramTransferredBytes),
      throughputBytesPerSec: BigInt(p.throughputBytesPerSec),
    },
  });
  if (count && publish) await publishSnapshot(await getSnapshot(id), { fleet: false });
}

/**
 * The run could not resume the guest it paused (its monitor connection broke): one more try through a
 * fresh session (the pool reconnects), once QEMU is past saving the device state. True when it runs.
 */
async function resumeThroughNewSession(vmId: string, log: Logger): Promise<boolean> {
  for (let attempt = 0; attempt < 30; attempt++) {
    try {
      const qmp = await getVmSession(vmId);
      const info = await qmp.queryMigrate();
      const saving =
        info.status === "setup" ||
        (info.status === "active" && (info.ram?.transferred ?? 0) < RESUME_AFTER_STREAM_BYTES);
      if (!saving) {
        const { status } = await qmp.queryStatus();
        if (status === "paused") await qmp.cont();
        log.warn({ was: status }, "resumed the guest through a new monitor session after the snapshot's own broke");
        return true;
      }
    } catch (err) {
      if (attempt === 0) log.warn({ err }, "resuming the guest through a new monitor session failed; retrying");
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
  return false;
}

/**
 * finishJob, retried while the database is away (restarted, failing over): the outcome of a snapshot
 * that QEMU finished must not be lost to a moment without PostgreSQL. A domain error (the row moved
 * on: force-failed) is not retried. Up to ~2 minutes, then the error goes to the caller (and the
 * job, unreconciled, to recovery.ts).
 */
async function finishJobPatiently(id: string, r: FinalResult, log: Logger): Promise<SnapshotJson> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await finishJob(id, r);
    } catch (err) {
      if (err instanceof InvalidSnapshotTransitionError || attempt >= 120) throw err;
      if (attempt === 0)
        log.warn({ err }, "recording the snapshot's outcome failed; retrying until the database answers");
      await new Promise((res) => setTimeout(res, 1000));
    }
  }
}

const big = (n: number | undefined) => (n === undefined ? undefined : BigInt(Math.round(n)));

type FinalResult = Pick<SnapshotRunResult, "status" | "error"> & Partial<SnapshotRunResult>;

export async function finishJob(id: string, r: FinalResult): Promise<SnapshotJson> {
  const m = r.metrics ?? {};
  const message = r.error?.message;
  return transitionSnapshot(id, r.status, {
    detail: message ?? r.detail ?? null,
    data: {
      finishedAt: new Date(),
      ...(r.status === "completed" ? { progress: 1 } : {}),
      guestPauseMs: m.guestPauseMs,
      qemuDowntimeMs: m.qemuDowntimeMs,
      setupMs: m.setupMs,
      totalMs: m.totalMs,
      ramTotalBytes: big(m.ramTotalBytes),
      ramTransferredBytes: big(m.ramTransferredBytes),
      throughputBytesPerSec: big(m.throughputBytesPerSec),
      sizeBytes: big(m.sizeBytes),
      files: (r.files ?? []) as unknown as Prisma.InputJsonValue,
      errorClass: r.error?.errorClass ?? null,
      errorMessage: message ?? null,
      consistency: r.status === "completed" ? (r.consistency ?? null) : null,
      quiesceNote: r.quiesceNote ?? null,
      undoOnCrash: Prisma.DbNull,
    },
  });
}
