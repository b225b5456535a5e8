// The snapshot engine behind the scheduler's port: creating a job is createSnapshotJob — the very
// function "Snapshot now" calls (one job per VM, 409 SnapshotInProgressError with the busy job's id,
// queued through pg-boss in the same transaction) — and retention deletes through deleteSnapshot, the
// crash-safe journal that removes exactly what the snapshot created, each piece once proven unused.
import type { Logger } from "../logger";
import { deleteSnapshot } from "../snapshots/deletion";
import { createSnapshotJob } from "../snapshots/jobs";
import type { SnapshotJobPort } from "./port";

export function snapshotEnginePort(log: Logger): SnapshotJobPort {
  return {
    async create({ vmId, mode, scheduleId, note, quiesce }) {
      const json = await createSnapshotJob({ vmId, mode, scheduleId, note, quiesce });
      return { id: json.id };
    },
    async remove(snapshotId, reason) {
      await deleteSnapshot(snapshotId, { log, reason });
    },
  };
}
