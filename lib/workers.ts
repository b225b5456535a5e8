// Background workers of this process. Each feature registers its loop here; every loop logs and
// keeps going on error (a background loop never throws), and stop() waits for in-flight work.
import { startFleetWorkers } from "./fleet/discovery-worker";
import { startBoss, stopBoss } from "./jobs/boss";
import type { Logger } from "./logger";
import type { RealtimeHub } from "./realtime/hub";
import { startSchedulerWorker } from "./scheduler/start";
import { startSnapshotWorker } from "./snapshots/worker";
import { startRestoreWorker } from "./restore/worker";
import { startWebhookWorker } from "./webhooks/deliver";

export interface WorkerContext {
  databaseUrl: string;
  /** How often discovery runs (Config.discoveryIntervalMs). */
  discoveryIntervalMs: number;
  hub: RealtimeHub;
  log: Logger;
}

export interface Workers {
  stop(): Promise<void>;
}

export async function startWorkers(ctx: WorkerContext): Promise<Workers> {
  const stops: Array<() => Promise<void>> = [];
  // Fleet: periodic discovery (one leader per database) and, on stop, every VM's QMP session.
  stops.push(startFleetWorkers(ctx));
  // Job queue (pg-boss) and the snapshot worker. Snapshots stop FIRST, before the sessions close: a
  // snapshot mid-stream must be let finish, never cut (QEMU.md §2); the queue stops last.
  await startBoss(ctx.databaseUrl, ctx.log.child({ component: "jobs" }));
  const stopSnapshots = await startSnapshotWorker({ log: ctx.log.child({ component: "snapshots" }) });
  // Restores (rollbacks, sandbox verifications): stopped with the snapshots, before the sessions close.
  const stopRestores = await startRestoreWorker({ log: ctx.log.child({ component: "restore" }) });
  // Webhook deliveries: their own queue and slots, so a slow or dead receiver never delays a snapshot.
  const stopWebhooks = await startWebhookWorker({ log: ctx.log.child({ component: "webhooks" }) });
  // Scheduler: fires schedules (claimed in the database: exactly once across processes) and fans out
  // through the snapshot jobs above. Stopped first, so no new job is created while snapshots drain.
  const stopScheduler = startSchedulerWorker({ log: ctx.log.child({ component: "scheduler" }) });
  ctx.log.info({ workers: stops.length }, "workers started");
  return {
    async stop() {
      await stopScheduler().catch((err) => ctx.log.error({ err }, "stopping the scheduler failed"));
      await stopSnapshots().catch((err) => ctx.log.error({ err }, "stopping the snapshot worker failed"));
      await stopRestores().catch((err) => ctx.log.error({ err }, "stopping the restore worker failed"));
      await stopWebhooks().catch((err) => ctx.log.error({ err }, "stopping the webhook worker failed"));
      await Promise.allSettled(stops.map((s) => s()));
      await stopBoss().catch((err) => ctx.log.error({ err }, "stopping the job queue failed"));
    },
  };
}
