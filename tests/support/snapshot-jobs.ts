// Waiting for a snapshot job to end, as the tests that drive jobs through the worker do.
import { getSnapshot } from "../../lib/snapshots/jobs";
import type { SnapshotJson } from "../../lib/snapshots/snapshot-json";
import { until } from "./wait";

/** The job's JSON once it is completed, failed or cancelled. */
export function settledSnapshot(id: string, timeoutMs = 180_000): Promise<SnapshotJson> {
  return until(
    async () => {
      const s = await getSnapshot(id);
      return ["completed", "failed", "cancelled"].includes(s.status) ? s : undefined;
    },
    `snapshot ${id} to end`,
    timeoutMs,
  );
}
