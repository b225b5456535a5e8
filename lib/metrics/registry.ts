// The /metrics exposition (Prometheus text format 0.0.4): this process's own metrics (prom-client's
// default process and Node.js metrics: CPU, memory, event loop lag, GC, handles) merged with the
// fleet's, which are read from PostgreSQL at each scrape (fleet-stats.ts → fleet-metrics.ts).
// Invariants:
//  - the process registry is created once per process, a process singleton (Next loads modules twice in dev,
//    and server.ts's loopback metrics port and the Next route must share one set of default metrics);
//  - a scrape whose database reads fail throws MetricsUnavailableError (the scrape fails, Prometheus
//    records up=0) instead of exporting partial or zeroed fleet values that would look like a reset.
import { collectDefaultMetrics, Registry } from "prom-client";
import { readVersion } from "../config";
import { DomainError } from "../errors";
import { openVmSessionIds } from "../fleet/sessions";
import { logger } from "../logger";
import { processSingleton } from "../process-singleton";
import { fleetRegistry } from "./fleet-metrics";
import { readFleetStats } from "./fleet-stats";

const log = logger.child({ component: "metrics" });

/** The database did not answer the scrape's reads. */
export class MetricsUnavailableError extends DomainError {}

function processRegistry(): Registry {
  return processSingleton("__snapfleetProcessMetrics", () => {
    const registry = new Registry();
    collectDefaultMetrics({ register: registry });
    return registry;
  });
}

export interface Exposition {
  contentType: string;
  body: string;
}

/** One scrape: the fleet read from the database, plus this process's metrics. */
export async function renderMetrics(): Promise<Exposition> {
  let stats;
  try {
    stats = await readFleetStats(openVmSessionIds());
  } catch (err) {
    log.warn({ err }, "reading the fleet's metrics from the database failed");
    throw new MetricsUnavailableError(
      "the database did not answer the metrics queries; retry shortly (details in the server log)",
      undefined,
      { cause: err },
    );
  }
  const merged = Registry.merge([processRegistry(), fleetRegistry(stats, readVersion())]);
  return { contentType: merged.contentType, body: await merged.metrics() };
}
