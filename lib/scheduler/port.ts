// The scheduler's view of the snapshot engine: the two calls it makes. Kept as an interface so the
// scheduler goes through the exact code path "Snapshot now" uses (lib/snapshots/jobs.ts) without
// importing the engine's internals, and so a process that only schedules can be handed the same port.
import type { SnapshotModeName } from "../validations/snapshot";

export interface SnapshotJobPort {
  /**
   * Creates a queued snapshot job for the VM — the same function the "Snapshot now" route calls.
   * Throws ConflictError (lib/errors) when the VM already has a job in progress; other DomainErrors
   * are permanent (VM gone, not running…); anything else is treated as transient and retried.
   */
  create(input: {
    vmId: string;
    mode: SnapshotModeName;
    scheduleId: string;
    note: string;
    quiesce?: boolean;
  }): Promise<{ id: string }>;
  /** Deletes a completed snapshot's files and marks the row deleted (retention). */
  remove(snapshotId: string, reason: string): Promise<void>;
}
