// Snapshot jobs in the database: creating one (exactly one running job per VM), reading and listing
// them, moving one through the state machine with every change persisted (Snapshot row +
// SnapshotStatusChange) and published ("snapshot.updated" on `snapshot:<id>` and `vm:<id>`), and cancel
// requests. The worker body is execute-job.ts, crash recovery recovery.ts. The same createSnapshotJob
// serves "Snapshot now" and schedules; the HTTP request only enqueues.
// Invariants:
//  - createSnapshotJob locks the VM row (SELECT … FOR UPDATE) and checks for a running job in the
//    same transaction, and enqueues the pg-boss job in that transaction too: a row never exists without
//    its queue entry, and two concurrent requests cannot both pass (the second gets 409 + the id).
//  - Every status change goes through transitionSnapshot: row-locked, checked against
//    SNAPSHOT_TRANSITIONS, history row written in the same transaction, then published (and, on
//    completed / failed, handed to the webhooks: lib/webhooks/emit.ts).
//  - A running job holds the advisory lock job:<id> on its own connection (lib/db/advisory-locks.ts); crash recovery
//    (recovery.ts) only touches in-flight rows whose lock is free, i.e. whose process died.
//  - A VM whose disks cannot hold a snapshot (raw images: diskSnapshotBlocker) is refused here, before
//    anything is queued, for the modes that need its disks; so is a mode its host kind cannot give
//    (a TLS host: only disks-only — lib/fleet/host-capabilities.ts).
//  - createdAt is set here with millisecond precision so the (createdAt, id) keyset cursor is exact.
import { fromPrisma } from "pg-boss";
import { lockKey, tryAdvisoryXactLock } from "../db/advisory-locks";
import { db } from "../db/client";
import { Prisma } from "../db/generated/client";
import { ConflictError, InvalidInputError, NotFoundError } from "../errors";
import { hostModeBlocker, type HostKindName } from "../fleet/host-capabilities";
import { diskSnapshotBlocker, type VmDiskJson } from "../fleet/vm-json";
import { requireBoss, SNAPSHOT_RUN_QUEUE, type SnapshotRunJobData } from "../jobs/boss";
import { processSingleton } from "../process-singleton";
import { publish } from "../realtime/publish";
import { emitWebhookEvent } from "../webhooks/emit";
import { FLEET_TOPIC, snapshotTopic, vmTopic } from "../realtime/messages";
import {
  RUNNING_SNAPSHOT_STATUSES,
  toDbMode,
  type SnapshotListQuery,
  type SnapshotModeName,
} from "../validations/snapshot";
import { historyPageIds } from "./history-query";
import { snapshotInclude, toSnapshotJson } from "./serialize";
import { SNAPSHOT_UPDATED_EVENT, type SnapshotJson } from "./snapshot-json";
import { assertTransition, type SnapshotStatusName } from "./state-machine";

/** 409 with the running job's id, so the UI can open it. */
export class SnapshotInProgressError extends ConflictError {
  constructor(
    readonly snapshotId: string,
    status: string,
    vmName: string,
  ) {
    super(`VM ${vmName} already has a snapshot in progress (${status}): wait for it to finish or cancel it`, {
      snapshotId,
      status,
    });
  }
}

/** Directory of a VM's snapshots under the host's snapshot directory: readable and unique per VM. */
export function vmDirName(vm: { id: string; name: string }): string {
  const safe = vm.name
    .replace(/[^A-Za-z0-9._-]/g, "_")
    .replace(/^\.+/, "")
    .slice(0, 48);
  return `${safe || "vm"}-${vm.id.slice(0, 8)}`;
}

/**
 * Pushes the row's JSON on `snapshot:<id>` and `vm:<id>`; status changes (not progress ticks) also go
 * to `fleet`, so the fleet-wide history page follows new and finished jobs without a topic per VM.
 */
export async function publishSnapshot(json: SnapshotJson, opts: { fleet?: boolean } = { fleet: true }): Promise<void> {
  await publish({ topic: snapshotTopic(json.id), name: SNAPSHOT_UPDATED_EVENT, payload: json });
  await publish({ topic: vmTopic(json.vmId), name: SNAPSHOT_UPDATED_EVENT, payload: json });
  if (opts.fleet) await publish({ topic: FLEET_TOPIC, name: SNAPSHOT_UPDATED_EVENT, payload: json });
}

export interface CreateSnapshotJobInput {
  vmId: string;
  mode: SnapshotModeName;
  note?: string;
  scheduleId?: string;
  prunable?: boolean;
  /** The "Snapshot now" selection this job belongs to (lib/snapshots/batches.ts). */
  batchId?: string;
  /** Freeze the guest's filesystems through its agent (quiesce.ts); default: the VM's own setting. */
  quiesce?: boolean;
}

export async function createSnapshotJob(input: CreateSnapshotJobInput): Promise<SnapshotJson> {
  const boss = requireBoss();
  const json = await db().$transaction(async (tx) => {
    const [vm] = await tx.$queryRaw<
      Array<{
        id: string;
        name: string;
        state: string;
        hostId: string;
        disks: VmDiskJson[] | null;
        qemuVersion: string | null;
        hostKind: HostKindName;
        hostName: string;
        quiesce: boolean;
      }>
    >`
      SELECT v.id, v.name, v.state::text AS state, v."hostId", v.disks, v."qemuVersion", h.kind::text AS "hostKind", h.name AS "hostName", v.quiesce
      FROM "Vm" v JOIN "Host" h ON h.id = v."hostId" WHERE v.id = ${input.vmId}::uuid FOR UPDATE OF v`;
    if (!vm) throw new NotFoundError(`no VM with id ${input.vmId}`);
    if (vm.state === "gone" || vm.state === "shutdown") {
      throw new InvalidInputError(
        `VM ${vm.name} is ${vm.state === "gone" ? "gone" : "shut down"}: only a running or paused VM can be snapshotted`,
      );
    }
    // What the host kind cannot give is refused here, before anything is queued (host-capabilities.ts).
    const hostBlocker = hostModeBlocker(vm.hostKind, input.mode, vm.qemuVersion);
    if (hostBlocker)
      throw new InvalidInputError(
        `VM ${vm.name} on ${vm.hostKind} host ${vm.hostName} cannot take a ${input.mode} snapshot: ${hostBlocker}`,
      );
    const diskBlocker = input.mode === "ram-only" ? null : diskSnapshotBlocker(Array.isArray(vm.disks) ? vm.disks : []);
    if (diskBlocker) throw new InvalidInputError(`VM ${vm.name} cannot take a ${input.mode} snapshot: ${diskBlocker}`);
    if (!(await tryAdvisoryXactLock(tx, lockKey("vm", vm.id)))) {
      throw new ConflictError(
        `a snapshot of VM ${vm.name} is being deleted (its disk state is being removed): retry in a moment`,
        { vmId: vm.id },
      );
    }
    const running = await tx.snapshot.findFirst({
      where: { vmId: vm.id, status: { in: [...RUNNING_SNAPSHOT_STATUSES] } },
      orderBy: { createdAt: "asc" },
      select: { id: true, status: true },
    });
    if (running) throw new SnapshotInProgressError(running.id, running.status, vm.name);
    // A rollback stops and restarts the VM's QEMU (lib/restore): no snapshot meanwhile.
    const rollback = await tx.restore.findFirst({
      where: { vmId: vm.id, kind: "rollback", status: { in: ["queued", "setup", "active"] } },
      select: { id: true, status: true },
    });
    if (rollback)
      throw new ConflictError(
        `VM ${vm.name} is being rolled back to a snapshot (${rollback.status}): snapshot it once that is done`,
        { restoreId: rollback.id },
      );
    const now = new Date();
    const row = await tx.snapshot.create({
      data: {
        vmId: vm.id,
        hostId: vm.hostId,
        mode: toDbMode(input.mode),
        note: input.note || null,
        scheduleId: input.scheduleId ?? null,
        batchId: input.batchId ?? null,
        quiesce: input.quiesce ?? vm.quiesce,
        prunable: input.prunable ?? false,
        status: "queued",
        createdAt: now,
        history: { create: { status: "queued", at: now } },
      },
      include: snapshotInclude,
    });
    const data: SnapshotRunJobData = { snapshotId: row.id };
    await boss.send(SNAPSHOT_RUN_QUEUE, data, { id: row.id, db: fromPrisma(tx) });
    return toSnapshotJson(row);
  });
  await publishSnapshot(json);
  return json;
}

export async function getSnapshot(id: string): Promise<SnapshotJson> {
  const row = await db().snapshot.findUnique({ where: { id }, include: snapshotInclude });
  if (!row) throw new NotFoundError(`no snapshot with id ${id}`);
  return toSnapshotJson(row);
}

/**
 * Newest first, keyset-paginated on (createdAt, id); deleted snapshots are left out. Which rows form the
 * page is history-query.ts's index scan; the rows themselves are then read by primary key.
 */
export async function listSnapshots(
  q: SnapshotListQuery,
): Promise<{ snapshots: SnapshotJson[]; nextCursor: string | null }> {
  const { ids, nextCursor } = await historyPageIds(q);
  if (!ids.length) return { snapshots: [], nextCursor };
  const rows = await db().snapshot.findMany({ where: { id: { in: ids } }, include: snapshotInclude });
  const byId = new Map(rows.map((r) => [r.id, r]));
  // A row deleted (hard) between the two reads is simply not shown; the order is the scan's.
  return { snapshots: ids.flatMap((id) => (byId.has(id) ? [toSnapshotJson(byId.get(id)!)] : [])), nextCursor };
}

export interface TransitionOptions {
  detail?: string | null;
  data?: Omit<Prisma.SnapshotUpdateInput, "status" | "history">;
}

/** Moves a snapshot to `to` (checked against the table under a row lock), records and publishes it. */
export async function transitionSnapshot(
  id: string,
  to: SnapshotStatusName,
  opts: TransitionOptions = {},
): Promise<SnapshotJson> {
  const json = await db().$transaction(async (tx) => {
    const [row] = await tx.$queryRaw<Array<{ status: SnapshotStatusName }>>`
      SELECT status::text AS status FROM "Snapshot" WHERE id = ${id}::uuid FOR UPDATE`;
    if (!row) throw new NotFoundError(`no snapshot with id ${id}`);
    assertTransition(row.status, to);
    const updated = await tx.snapshot.update({
      where: { id },
      data: {
        ...opts.data,
        status: to,
        history: { create: { status: to, at: new Date(), detail: opts.detail ?? null } },
      },
      include: snapshotInclude,
    });
    return toSnapshotJson(updated);
  });
  await publishSnapshot(json);
  // Webhooks (lib/webhooks/emit.ts): one short insert + enqueue, no receiver is waited on; `data.snapshot` is this JSON.
  if (to === "completed" || to === "failed") await emitWebhookEvent(`snapshot.${to}`, { snapshot: json });
  return json;
}

// In-process cancel fast path: the worker's AbortController per running job (the DB flag is the
// cross-process path, polled by the worker).
/** The running jobs' AbortControllers of this process (execute-job.ts registers them). */
export const runningJobAborts = processSingleton("__snapfleetSnapshotAborts", () => new Map<string, AbortController>());

/**
 * Cancels a job: a queued one at once; a running one by flagging it — the worker then lets QEMU
 * finish into a discarding sink (never migrate_cancel on 7.2) and rolls everything back.
 */
export async function requestSnapshotCancel(id: string): Promise<SnapshotJson> {
  const json = await db().$transaction(async (tx) => {
    const [row] = await tx.$queryRaw<Array<{ status: SnapshotStatusName }>>`
      SELECT status::text AS status FROM "Snapshot" WHERE id = ${id}::uuid FOR UPDATE`;
    if (!row) throw new NotFoundError(`no snapshot with id ${id}`);
    if (!RUNNING_SNAPSHOT_STATUSES.includes(row.status))
      throw new ConflictError(`the snapshot is already ${row.status}: nothing to cancel`, { status: row.status });
    const at = new Date();
    const data: Prisma.SnapshotUpdateInput =
      row.status === "queued"
        ? {
            status: "cancelled",
            cancelRequested: true,
            finishedAt: at,
            history: { create: { status: "cancelled", at, detail: "cancelled before it started" } },
          }
        : { cancelRequested: true };
    return toSnapshotJson(await tx.snapshot.update({ where: { id }, data, include: snapshotInclude }));
  });
  runningJobAborts.get(id)?.abort();
  await publishSnapshot(json);
  return json;
}

/** VMs and hosts that have snapshots, for the Snapshots page's filters. */
export async function snapshotFilterOptions(): Promise<{
  vms: Array<{ id: string; name: string; hostName: string }>;
  hosts: Array<{ id: string; name: string }>;
}> {
  const [vms, hosts] = await Promise.all([
    db().vm.findMany({
      where: { snapshots: { some: {} } },
      select: { id: true, name: true, host: { select: { name: true } } },
      orderBy: { name: "asc" },
    }),
    db().host.findMany({
      where: { snapshots: { some: {} } },
      select: { id: true, name: true },
      orderBy: { name: "asc" },
    }),
  ]);
  return { vms: vms.map((v) => ({ id: v.id, name: v.name, hostName: v.host.name })), hosts };
}
