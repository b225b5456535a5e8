// The process's pg-boss instance: the Postgres job queue every background job goes through ("Snapshot
// now" today, schedules through the same path). One instance per process (a process singleton) because Next's
// route-handler bundles and server.ts must share it (a route enqueues, the worker in this or another
// process runs). Started by lib/workers.ts; queues are created here, idempotently, at start.
// Invariants: jobs are never retried by pg-boss (a snapshot must not re-run behind the operator's
// back: retries are a schedule decision); a job may stay active for up to an hour (a multi-GiB guest on
// a slow disk); enqueuing goes through the caller's transaction when given one (fromPrisma), so a job
// row and its queue entry commit together.
import { PgBoss, type Queue } from "pg-boss";
import type { Logger } from "../logger";
import { processSingleton } from "../process-singleton";

export const SNAPSHOT_RUN_QUEUE = "snapshot.run";

export interface SnapshotRunJobData {
  snapshotId: string;
  /** How many deliveries of this job failed before its run began (lib/snapshots/worker.ts retries a few). */
  handlerFailures?: number;
}

/**
 * Polling of the job workers. Jobs waiting for an admission slot (or for their VM's owner) come back as
 * delayed jobs, which no NOTIFY announces: poll every second even while NOTIFY is active (pg-boss's
 * backstop would otherwise be 30 s: a fleet of 20 queued VMs took 3 min per round).
 */
export const WORKER_POLLING = { pollingIntervalSeconds: 1, notifyPollingIntervalSeconds: 1 } as const;

/** Rollbacks and verifications of snapshots (lib/restore/worker.ts). */
export const RESTORE_RUN_QUEUE = "restore.run";

export interface RestoreRunJobData {
  restoreId: string;
}

/**
 * Webhook deliveries (lib/webhooks/deliver.ts): one job per attempt. A failed attempt is re-sent by the
 * worker itself with `startAfter` (its own backoff, each attempt logged), so pg-boss retries none.
 */
export const WEBHOOK_DELIVERY_QUEUE = "webhook-delivery";

export interface WebhookDeliveryJobData {
  deliveryId: string;
}

const QUEUES: Array<Queue> = [
  {
    name: SNAPSHOT_RUN_QUEUE,
    retryLimit: 0,
    expireInSeconds: 3600,
    deleteAfterSeconds: 7 * 24 * 3600,
    notify: true,
  },
  {
    name: RESTORE_RUN_QUEUE,
    retryLimit: 0,
    expireInSeconds: 3600,
    deleteAfterSeconds: 7 * 24 * 3600,
    notify: true,
  },
  {
    name: WEBHOOK_DELIVERY_QUEUE,
    retryLimit: 0,
    // One attempt is bounded by its HTTP timeout (seconds); a job active this long has a dead worker.
    expireInSeconds: 300,
    deleteAfterSeconds: 7 * 24 * 3600,
    notify: true,
  },
];

const slot = processSingleton("__snapfleetBoss", (): { boss?: PgBoss } => ({}));

/** The started instance; throws a clear error when this process has none (e.g. a test forgot to start it). */
export function requireBoss(): PgBoss {
  const boss = slot.boss;
  if (!boss) throw new Error("the job queue is not started in this process (lib/jobs/boss.ts startBoss)");
  return boss;
}

export async function startBoss(databaseUrl: string, log: Logger): Promise<PgBoss> {
  if (slot.boss) return slot.boss;
  const boss = new PgBoss({ connectionString: databaseUrl, schema: "pgboss", useListenNotify: true, max: 6 });
  // pg-boss reports background failures as events; a queue hiccup must never crash the process.
  boss.on("error", (err) => log.warn({ err }, "job queue error"));
  await boss.start();
  for (const q of QUEUES) {
    if (!(await boss.getQueue(q.name))) {
      const { name, ...options } = q;
      await boss.createQueue(name, options).catch(async (err) => {
        if (!(await boss.getQueue(name))) throw err; // else another process created it meanwhile
      });
    }
  }
  slot.boss = boss;
  return boss;
}

/** Stops the instance, letting active jobs finish for up to `timeoutMs`. */
export async function stopBoss(timeoutMs = 30_000): Promise<void> {
  const boss = slot.boss;
  if (!boss) return;
  slot.boss = undefined;
  await boss.stop({ graceful: true, timeout: timeoutMs });
}
