// What a snapshot run has changed on its VM and not yet put back, and how a restarted dashboard puts it
// back when the run's process died. run-snapshot.ts reports every change before making it (onUndoChange;
// jobs.ts keeps it on the job row, `Snapshot.undoOnCrash`); crash recovery (jobs.ts) calls
// undoAfterCrash with the VM's QMP session.
// What is undone, and when it is safe:
//   - a guest the run stopped (for the instant of a consistent snapshot) and had not seen running again
//     is resumed — unless QEMU is still before the point where it has saved the device state (migration
//     `setup`, or `active` with less than RESUME_AFTER_STREAM_BYTES of RAM streamed: resuming then
//     would let the guest run before its state was captured); the next sweep retries. QEMU < 9 resumes
//     the guest itself once its setup is over, so there the only case left is a dashboard that died
//     between `stop` and `migrate`; QEMU ≥ 9 keeps the guest paused until someone says `cont`.
//   - migration capabilities the run switched on (background-snapshot, events) are put back to what
//     they were, once no migration is running (QEMU refuses the change during one).
//   - guest filesystems the run froze through the guest agent (quiesce.ts; recorded with the agent's
//     socket before guest-fsfreeze-freeze is written, cleared once the thaw is answered) are thawed
//     through a fresh agent channel (thawAfterCrash: status first, thaw only when "frozen"), after the
//     guest was resumed — a paused guest's agent cannot answer, so then the thaw waits for a later sweep;
//     an agent that does not answer is asked again by the next sweep.
// Invariants: never resumes a guest the run did not stop (an operator's pause is left alone); never
// touches a running migration; undoAfterCrash never throws (it reports what it could not do).
import type { Duplex } from "node:stream";
import type { QmpClient } from "../qmp";
import type { MigrationCapabilityStatus } from "../qmp/types";
import { RESUME_AFTER_STREAM_BYTES } from "./pause-steps";
import { thawAfterCrash } from "./quiesce";

export interface VmUndo {
  /** The capabilities' values before the run; put back once no migration runs. */
  capabilities?: MigrationCapabilityStatus[];
  /** The run stopped the guest (or was about to) and has not seen it running again. */
  guestStopped?: boolean;
  /** The run froze the guest's filesystems (or was about to) and no thaw was answered: its agent's socket. */
  fsFrozen?: { agentSocket: string };
  /** Sentences about what an earlier recovery sweep already undid. */
  done?: string[];
}

export interface UndoOutcome {
  /** What was put back, for the job's message. */
  done: string[];
  /** What could not be put back and why, for the job's message. */
  failed: string[];
  /** What is left for a later sweep (QEMU was not ready yet), or null when nothing is. */
  remaining: VmUndo | null;
}

/** How recovery reaches the VM's guest agent (the host access's socket opener, as quiesce uses it). */
export interface AgentAccess {
  /** Opens a stream to a unix socket on the VM's host; null when the host gives none. */
  openSocket: ((path: string) => Promise<Duplex>) | null;
  /** Bound of the whole thaw conversation (default: quiesce.ts QUIESCE_TIMEOUT_MS). */
  timeoutMs?: number;
}

/** Reads the job row's JSON; anything malformed counts as nothing to undo. */
export function parseVmUndo(json: unknown): VmUndo | null {
  if (!json || typeof json !== "object" || Array.isArray(json)) return null;
  const j = json as Record<string, unknown>;
  const caps = Array.isArray(j.capabilities)
    ? j.capabilities.filter(
        (c): c is MigrationCapabilityStatus => !!c && typeof c.capability === "string" && typeof c.state === "boolean",
      )
    : undefined;
  const undo: VmUndo = {
    ...(caps?.length ? { capabilities: caps } : {}),
    ...(j.guestStopped === true ? { guestStopped: true } : {}),
    ...(fsFrozenOf(j.fsFrozen) ?? {}),
    ...(Array.isArray(j.done) ? { done: j.done.filter((d): d is string => typeof d === "string") } : {}),
  };
  return undo.capabilities || undo.guestStopped || undo.fsFrozen || undo.done?.length ? undo : null;
}

function fsFrozenOf(v: unknown): { fsFrozen: { agentSocket: string } } | undefined {
  const socket = v && typeof v === "object" ? (v as { agentSocket?: unknown }).agentSocket : undefined;
  return typeof socket === "string" && socket ? { fsFrozen: { agentSocket: socket } } : undefined;
}

const MIGRATING = new Set(["setup", "active", "pre-switchover", "device", "cancelling", "wait-unplug"]);

export async function undoAfterCrash(
  qmp: QmpClient,
  undo: VmUndo,
  agent: AgentAccess = { openSocket: null },
): Promise<UndoOutcome> {
  const done = [...(undo.done ?? [])];
  const failed: string[] = [];
  const remaining: VmUndo = {};
  let migration: { status?: string; transferred: number };
  try {
    const info = await qmp.queryMigrate();
    migration = { status: info.status, transferred: info.ram?.transferred ?? 0 };
  } catch (err) {
    return {
      done,
      failed: [`the VM could not be asked about its snapshot (${(err as Error).message})`],
      remaining: { ...undo, done },
    };
  }
  const migrating = migration.status !== undefined && MIGRATING.has(migration.status);

  if (undo.guestStopped) {
    const deviceStateSaved =
      !migrating || (migration.status === "active" && migration.transferred >= RESUME_AFTER_STREAM_BYTES);
    try {
      const { status } = await qmp.queryStatus();
      if (status !== "paused") {
        // Running again (QEMU < 9 resumes by itself), or in a state that is not ours to change.
      } else if (!deviceStateSaved) {
        remaining.guestStopped = true;
      } else {
        await qmp.cont();
        done.push("the guest, which Snapfleet had paused for the snapshot's instant, was resumed");
      }
    } catch (err) {
      failed.push(`resuming the guest Snapfleet had paused failed (${(err as Error).message}): it may still be paused`);
    }
  }

  if (undo.capabilities) {
    if (migrating) remaining.capabilities = undo.capabilities;
    else {
      try {
        await qmp.migrateSetCapabilities(undo.capabilities);
        done.push(
          `the migration capabilities were put back (${undo.capabilities.map((c) => `${c.capability} ${c.state ? "on" : "off"}`).join(", ")})`,
        );
      } catch (err) {
        failed.push(`putting the migration capabilities back failed (${(err as Error).message})`);
      }
    }
  }

  // After the resume above: a paused guest's agent cannot answer.
  if (undo.fsFrozen) {
    const frozen = undo.fsFrozen;
    const runState = await qmp.queryStatus().then(
      (s) => s.status,
      (err: Error) => `unknown (${err.message})`,
    );
    if (!agent.openSocket) {
      failed.push(
        `this host gives no access to the guest agent's socket ${frozen.agentSocket}: the guest's filesystems may still be frozen; thaw them by hand (docs/quiesce.md)`,
      );
    } else if (runState !== "running") {
      remaining.fsFrozen = frozen;
      failed.push(
        `the guest is ${runState}, so its agent cannot thaw the filesystems the snapshot may have frozen; a later recovery sweep does once it runs`,
      );
    } else {
      const open = agent.openSocket;
      const thaw = await thawAfterCrash(() => open(frozen.agentSocket), agent.timeoutMs);
      if ("done" in thaw) done.push(thaw.done);
      else {
        failed.push(thaw.failed);
        if (thaw.retry) remaining.fsFrozen = frozen;
      }
    }
  }
  const left = remaining.guestStopped || remaining.capabilities || remaining.fsFrozen;
  return { done, failed, remaining: left ? { ...remaining, done } : null };
}
