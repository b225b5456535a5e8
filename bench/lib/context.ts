// What every bench part receives (BenchContext) and what a simple part returns (BenchResult); bench/run.ts
// provides the one and records the other. Its own module so parts never import the runner.
import type { SnapfleetServer } from "./snapfleet";

/** What a simple part returns: rows for a console table, details for the JSON. */
export interface BenchResult {
  rows: Array<Record<string, string | number>>;
  details?: Record<string, unknown>;
}

export interface BenchContext {
  flags: Record<string, string>;
  log(message: string): void;
  /** One Snapfleet server for the whole bench run, started on first use. */
  snapfleet(): Promise<SnapfleetServer>;
}
