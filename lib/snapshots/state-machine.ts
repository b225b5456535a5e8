// The snapshot job's state machine as a pure table. Every status change of a Snapshot row goes through
// `assertTransition` (lib/snapshots/jobs.ts does it under a row lock), so the history a user reads is
// always one of the sequences tests/snapshots/state-machine.test.ts lists.
//
//   queued → preflight → setup → active → completed        live, ram-only
//   queued → preflight → setup → completed                 disks-only (no RAM stream: nothing is "active")
//   any non-terminal → failed | cancelled                  (cancelled from setup/active only once QEMU
//                                                          has finished and the VM is back as it was)
// Invariants: terminal states have no way out; a job never goes backwards.

import type { SnapshotStatusName } from "../validations/snapshot";

// The statuses themselves are listed once, in lib/validations/snapshot.ts (forms, queries and the wire use them too).
export type { SnapshotStatusName };

export const SNAPSHOT_TRANSITIONS: Readonly<Record<SnapshotStatusName, readonly SnapshotStatusName[]>> = {
  queued: ["preflight", "failed", "cancelled"],
  preflight: ["setup", "failed", "cancelled"],
  setup: ["active", "completed", "failed", "cancelled"],
  active: ["completed", "failed", "cancelled"],
  completed: [],
  failed: [],
  cancelled: [],
};

/** Statuses in which a worker is (or was, if it died) talking to QEMU. */
export const IN_FLIGHT_STATUSES: readonly SnapshotStatusName[] = ["preflight", "setup", "active"];
export const TERMINAL_STATUSES: readonly SnapshotStatusName[] = ["completed", "failed", "cancelled"];

export function isTerminal(status: SnapshotStatusName): boolean {
  return TERMINAL_STATUSES.includes(status);
}

export function canTransition(from: SnapshotStatusName, to: SnapshotStatusName): boolean {
  return SNAPSHOT_TRANSITIONS[from].includes(to);
}

export class InvalidSnapshotTransitionError extends Error {
  constructor(
    readonly from: SnapshotStatusName,
    readonly to: SnapshotStatusName,
  ) {
    super(`a snapshot cannot go from ${from} to ${to}`);
    this.name = "InvalidSnapshotTransitionError";
  }
}

export function assertTransition(from: SnapshotStatusName, to: SnapshotStatusName): void {
  if (!canTransition(from, to)) throw new InvalidSnapshotTransitionError(from, to);
}
