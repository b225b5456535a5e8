// Background workers of this process. Each feature registers its loop here; every loop logs and
// keeps going on error (a background loop never throws), and stop() waits for in-flight work.
import type { Logger } from "./logger";
import type { RealtimeHub } from "./realtime/hub";

export interface WorkerContext {
  databaseUrl: string;
  hub: RealtimeHub;
  log: Logger;
}

export interface Workers {
  stop(): Promise<void>;
}

export async function startWorkers(ctx: WorkerContext): Promise<Workers> {
  const stops: Array<() => Promise<void>> = [];
  ctx.log.info({ workers: stops.length }, "workers started");
  return {
    async stop() {
      await Promise.allSettled(stops.map((s) => s()));
    },
  };
}
