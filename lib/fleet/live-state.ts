// A VM's run state as the dashboard shows it, from QMP: how QEMU's run states and events map onto
// Vm.state, and the one write path for state changes (update the row, then publish `vm.state` on
// `vm:<id>` and `fleet`). Updates of one VM are applied in the order their causes happened (a chain
// per VM), so STOP then RESUME can never land as paused.
// Mapping (qapi/run-state.json): running → running; shutdown → shutdown; every other run state (paused,
// suspended, debug, inmigrate, postmigrate, prelaunch, io-error, internal-error, watchdog,
// guest-panicked, …) → paused, with QEMU's word kept in stateReason.
import { db } from "../db/client";
import type { Vm, VmState } from "../db/generated/client";
import { logger } from "../logger";
import { processSingleton } from "../process-singleton";
import type { QmpEvent, RunState } from "../qmp";
import { FLEET_TOPIC, vmTopic } from "../realtime/messages";
import { publish } from "../realtime/publish";
import { toVmJson, type VmWithRelations } from "./serialize";
import { FLEET_EVENTS, type VmJson } from "./vm-json";

export interface StateChange {
  state: VmState;
  stateReason: string | null;
}

export function stateFromRunState(status: RunState): StateChange {
  if (status === "running") return { state: "running", stateReason: null };
  if (status === "shutdown") return { state: "shutdown", stateReason: null };
  if (status === "paused") return { state: "paused", stateReason: null };
  return { state: "paused", stateReason: `QEMU run state: ${status}` };
}

/** The state a QMP event implies, or null for events that do not change it. */
export function stateFromEvent(ev: QmpEvent): StateChange | null {
  switch (ev.event) {
    case "STOP":
      return { state: "paused", stateReason: null };
    case "RESUME":
    case "WAKEUP":
      return { state: "running", stateReason: null };
    case "SUSPEND":
    case "SUSPEND_DISK":
      return { state: "paused", stateReason: "guest suspended" };
    case "GUEST_PANICKED":
      return { state: "paused", stateReason: "guest panicked" };
    case "SHUTDOWN": {
      const reason = typeof ev.data.reason === "string" ? ev.data.reason : undefined;
      return { state: "shutdown", stateReason: reason ? `shutdown: ${reason}` : null };
    }
    default:
      return null;
  }
}

/** QMP events that can change the run state (the ones stateFromEvent maps). */
export const STATE_EVENTS = ["STOP", "RESUME", "WAKEUP", "SUSPEND", "SUSPEND_DISK", "GUEST_PANICKED", "SHUTDOWN"];

const log = logger.child({ component: "live-state" });
/** VM id → the tail of its state writes (a process singleton: every bundle's writes share one order). */
const chains = processSingleton("__snapfleetStateChains", () => new Map<string, Promise<unknown>>());

/**
 * Runs `work` after every earlier state write of the same VM (event listeners and discovery both
 * write through here), so writes land in the order their causes happened.
 */
export function inVmOrder<T>(vmId: string, work: () => Promise<T>): Promise<T> {
  const previous = chains.get(vmId) ?? Promise.resolve();
  const next = previous.then(work, work);
  // The chain only orders the writes: each caller gets its own work's error through `next`.
  const tail = next.catch((err: unknown) => err);
  chains.set(vmId, tail);
  void tail.then(() => {
    if (chains.get(vmId) === tail) chains.delete(vmId);
  });
  return next;
}

/** Publishes a VM's JSON on its own topic and on `fleet`. */
export async function publishVm(name: string, vm: VmJson): Promise<void> {
  await Promise.all([
    publish({ topic: vmTopic(vm.id), name, payload: vm }),
    publish({ topic: FLEET_TOPIC, name, payload: vm }),
  ]);
}

interface UpdatedRow extends Vm {
  hostName: string;
  snapId: string | null;
  snapStatus: string | null;
  snapCreatedAt: Date | null;
  snapPause: number | null;
}

/**
 * The state write of the live path in ONE round trip (the 200 ms budget from QMP event to browser):
 * update unless gone, and return the row with what toVmJson needs (host name, last snapshot).
 */
async function updateStateReturning(vmId: string, change: StateChange, seen: boolean): Promise<VmWithRelations | null> {
  const rows = await db().$queryRaw<UpdatedRow[]>`
    WITH updated AS (
      UPDATE "Vm" SET "state" = ${change.state}::"VmState", "stateReason" = ${change.stateReason},
        "lastSeenAt" = CASE WHEN ${seen} THEN now() ELSE "lastSeenAt" END, "updatedAt" = now()
      WHERE "id" = ${vmId}::uuid AND "state" <> 'gone'
      RETURNING *
    )
    SELECT u.*, h."name" AS "hostName", s."id" AS "snapId", s."status"::text AS "snapStatus",
           s."createdAt" AS "snapCreatedAt", s."guestPauseMs" AS "snapPause"
    FROM updated u
    JOIN "Host" h ON h."id" = u."hostId"
    LEFT JOIN LATERAL (
      SELECT "id", "status", "createdAt", "guestPauseMs" FROM "Snapshot"
      WHERE "vmId" = u."id" AND "deletedAt" IS NULL ORDER BY "createdAt" DESC LIMIT 1
    ) s ON true`;
  const row = rows[0];
  if (!row) return null;
  const { hostName, snapId, snapStatus, snapCreatedAt, snapPause, ...vm } = row;
  return {
    ...vm,
    host: { name: hostName },
    snapshots:
      snapId && snapStatus && snapCreatedAt
        ? [{ id: snapId, status: snapStatus, createdAt: snapCreatedAt, guestPauseMs: snapPause }]
        : [],
  };
}

export interface ApplyStateOptions {
  /** Only write when the stored state differs (discovery, reconnects); events always write. */
  onlyIfChanged?: boolean;
  /** The VM answered: refresh lastSeenAt. */
  seen?: boolean;
}

/**
 * Stores a state change coming from a VM's session and publishes it. A VM marked gone is left alone
 * (only discovery revives it). Never throws (a background path): a VM deleted meanwhile (host
 * removed) is ignored. Returns the new JSON when something was written.
 */
export function applyVmState(vmId: string, change: StateChange, opts: ApplyStateOptions = {}): Promise<VmJson | null> {
  return inVmOrder(vmId, async () => {
    try {
      const where = { id: vmId, state: { not: "gone" as const } };
      if (opts.onlyIfChanged) {
        const current = await db().vm.findUnique({ where: { id: vmId }, select: { state: true, stateReason: true } });
        if (!current || current.state === "gone") return null;
        if (current.state === change.state && current.stateReason === change.stateReason) {
          if (opts.seen) await db().vm.updateMany({ where, data: { lastSeenAt: new Date() } });
          return null;
        }
      }
      const vm = await updateStateReturning(vmId, change, opts.seen === true);
      if (!vm) return null;
      const json = toVmJson(vm);
      await publishVm(FLEET_EVENTS.vmState, json);
      return json;
    } catch (err) {
      log.warn({ err, vm: vmId, state: change.state }, "could not store a VM state change");
      return null;
    }
  });
}
