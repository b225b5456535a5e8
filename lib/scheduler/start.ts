// Starts this process's scheduler (lib/workers.ts): the loop of worker.ts over the real snapshot
// engine, reachable from route handlers through wakeScheduler(), and publishing each fired and each
// finished run on the `fleet` topic ("schedule.run") so open Schedules pages refresh.
import type { Logger } from "../logger";
import { FLEET_TOPIC } from "../realtime/messages";
import { publish } from "../realtime/publish";
import { snapshotEnginePort } from "./engine-port";
import { SchedulerWorker, setScheduler } from "./worker";

export const SCHEDULE_RUN_EVENT = "schedule.run";

export function startSchedulerWorker(opts: { log: Logger }): () => Promise<void> {
  const { log } = opts;
  const publishRun = (payload: { scheduleId: string; runId: string; status: string }) =>
    void publish({ topic: FLEET_TOPIC, name: SCHEDULE_RUN_EVENT, payload });
  const worker = new SchedulerWorker({
    port: snapshotEnginePort(log),
    log,
    onFired: (runs) => {
      log.info({ runs: runs.length }, "schedules fired");
      for (const r of runs) publishRun({ scheduleId: r.scheduleId, runId: r.id, status: r.status });
    },
    onFinalized: (runs) => {
      for (const r of runs) publishRun({ scheduleId: r.scheduleId, runId: r.id, status: r.status });
    },
  });
  setScheduler(worker);
  worker.start();
  return async () => {
    setScheduler(undefined);
    await worker.stop();
  };
}
