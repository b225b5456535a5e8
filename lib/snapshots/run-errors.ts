// How a snapshot run fails: the error classes an operator and the scheduler see on a failed job, which of
// them a later attempt may not hit (transient), and how any error thrown inside a run is classified.
// Invariants: every class has a comment saying when it happens; classify never throws and keeps the cause.
import { QmpCommandError, QmpDisconnectedError, QmpTimeoutError, SSH_CONNECTION_LOST } from "../qmp";
import { SnapshotRefusedError } from "./preflight";

export type SnapshotErrorClass =
  | "refused" // preflight said no: nothing was touched
  | "incompatible" // QEMU refused background-snapshot for this VM (memory configuration, kernel)
  | "disk-snapshot" // the internal disk snapshot transaction failed (nothing changed)
  | "target-write" // writing the vmstate failed (disk full, I/O error)
  | "target-truncated" // QEMU's stream ended early
  | "migration-failed" // QEMU reported the migration failed
  | "qemu-exited" // QEMU (or its monitor) went away mid-snapshot
  | "connection-lost" // the SSH connection to the VM's host dropped mid-snapshot; QEMU itself kept running
  | "qmp-timeout"
  | "qmp-error"
  | "interrupted" // the dashboard restarted during the snapshot (recovery.ts)
  | "vm-unreachable" // no QMP session to the VM (execute-job.ts)
  | "forced" // an operator force-failed a job that stayed in flight (force-fail.ts)
  | "internal";

/** Failures a later attempt may not hit (the VM or its monitor was away); the rest would fail again. */
export const TRANSIENT_SNAPSHOT_ERRORS: readonly SnapshotErrorClass[] = [
  "vm-unreachable",
  "qemu-exited",
  "connection-lost",
  "qmp-timeout",
  "interrupted",
];

/** A failure with its class, thrown inside the run and turned into a result at the top. */
export class SnapshotFailure extends Error {
  constructor(
    readonly errorClass: SnapshotErrorClass,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function describe(err: unknown): string {
  if (err instanceof QmpCommandError) return err.desc;
  return err instanceof Error ? err.message : String(err);
}

/** Whether the session ended because the SSH connection under it went away (the transport's code, anywhere in the cause chain). */
function sshConnectionLost(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    if ((e as { code?: unknown }).code === SSH_CONNECTION_LOST) return true;
  }
  return false;
}

export function classify(err: unknown): SnapshotFailure {
  if (err instanceof SnapshotFailure) return err;
  if (err instanceof SnapshotRefusedError) return new SnapshotFailure("refused", err.message, { cause: err });
  if (err instanceof QmpDisconnectedError && sshConnectionLost(err)) {
    return new SnapshotFailure(
      "connection-lost",
      "the connection to the host was lost; QEMU keeps running (only the SSH connection carrying its monitor closed); the snapshot was abandoned and its partial files are discarded on the host",
      { cause: err },
    );
  }
  if (err instanceof QmpDisconnectedError) {
    return new SnapshotFailure("qemu-exited", `QEMU exited or its monitor closed during the snapshot (${err.reason})`, {
      cause: err,
    });
  }
  if (err instanceof QmpTimeoutError)
    return new SnapshotFailure("qmp-timeout", `QEMU did not answer ${err.command} within ${err.timeoutMs} ms`, {
      cause: err,
    });
  if (err instanceof QmpCommandError)
    return new SnapshotFailure("qmp-error", `QEMU refused ${err.command}: ${err.desc}`, { cause: err });
  return new SnapshotFailure("internal", `unexpected error: ${describe(err)}`, { cause: err });
}
