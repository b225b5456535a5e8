// Restore jobs in the database: creating a rollback or a verification of a snapshot (enqueued on
// pg-boss in the same transaction as the row), reading them, and moving one through its state machine
// with every change persisted (Restore row + RestoreStatusChange) and published ("restore.updated" on
// `restore:<id>`, `vm:<id>` and `fleet`).
//   queued → setup → active → completed | failed      (any non-terminal → failed)
// Invariants:
//  - Per-VM exclusivity, the same pattern as createSnapshotJob: the VM row is locked FOR UPDATE, the
//    `vm:<id>` advisory lock of deletions is try-locked, and in that transaction at most one restore
//    (rollback or verify) of a VM runs; a rollback also needs no snapshot of the VM running (and
//    createSnapshotJob refuses while a rollback runs), so the VM's QEMU is never stopped under a snapshot.
//  - A rollback that Snapfleet cannot do safely (a manager owns the VM, a remote host, …) is refused
//    here, before anything is queued (422), with the reason and the commands an operator would run.
import { fromPrisma } from "pg-boss";
import { lockKey, tryAdvisoryXactLock } from "../db/advisory-locks";
import { db } from "../db/client";
import type { Prisma } from "../db/generated/client";
import { ConflictError, InvalidInputError, NotFoundError } from "../errors";
import { RESTORE_RUN_QUEUE, requireBoss, type RestoreRunJobData } from "../jobs/boss";
import { FLEET_TOPIC, restoreTopic, vmTopic } from "../realtime/messages";
import { publish } from "../realtime/publish";
import { emitWebhookEvent } from "../webhooks/emit";
import { RUNNING_SNAPSHOT_STATUSES } from "../validations/snapshot";
import { planRollback, planVerify } from "./plan";
import { RESTORE_UPDATED_EVENT, restoreIsRunning, type RestoreJson, type RestoreStatusName } from "./restore-json";

export const RESTORE_TRANSITIONS: Readonly<Record<RestoreStatusName, readonly RestoreStatusName[]>> = {
  queued: ["setup", "failed"],
  setup: ["active", "failed"],
  active: ["completed", "failed"],
  completed: [],
  failed: [],
};

export const restoreInclude = {
  vm: { select: { name: true } },
  history: { orderBy: [{ at: "asc" }, { id: "asc" }], select: { status: true, at: true, detail: true } },
} satisfies Prisma.RestoreInclude;

type RestoreRow = Prisma.RestoreGetPayload<{ include: typeof restoreInclude }>;

export function toRestoreJson(r: RestoreRow, hasScreenshot?: boolean): RestoreJson {
  const result =
    r.result && typeof r.result === "object" && !Array.isArray(r.result) ? (r.result as Record<string, unknown>) : null;
  return {
    id: r.id,
    kind: r.kind,
    vmId: r.vmId,
    vmName: r.vm.name,
    snapshotId: r.snapshotId,
    status: r.status,
    statusHistory: r.history.map((h) => ({ status: h.status, at: h.at.toISOString(), detail: h.detail })),
    safetySnapshotId: r.safetySnapshotId,
    result,
    hasScreenshot: hasScreenshot ?? result?.screenshot === true,
    error: r.errorClass || r.errorMessage ? { class: r.errorClass ?? "unknown", message: r.errorMessage ?? "" } : null,
    createdAt: r.createdAt.toISOString(),
    startedAt: r.startedAt?.toISOString() ?? null,
    finishedAt: r.finishedAt?.toISOString() ?? null,
  };
}

export async function publishRestore(json: RestoreJson): Promise<void> {
  await publish({ topic: restoreTopic(json.id), name: RESTORE_UPDATED_EVENT, payload: json });
  await publish({ topic: vmTopic(json.vmId), name: RESTORE_UPDATED_EVENT, payload: json });
  await publish({ topic: FLEET_TOPIC, name: RESTORE_UPDATED_EVENT, payload: json });
}

/** 409 with the running restore's id. */
export class RestoreInProgressError extends ConflictError {
  constructor(restoreId: string, kind: string, status: string, vmName: string) {
    super(
      `VM ${vmName} already has a ${kind === "rollback" ? "rollback" : "verification"} in progress (${status}): wait for it to finish`,
      { restoreId, status },
    );
  }
}

export async function createRestoreJob(kind: "rollback" | "verify", snapshotId: string): Promise<RestoreJson> {
  const snap = await db().snapshot.findUnique({
    where: { id: snapshotId },
    include: { vm: { include: { host: true } } },
  });
  if (!snap) throw new NotFoundError(`no snapshot with id ${snapshotId}`);
  // Everything that can be decided without locks (reads files and /proc) first: a refusal is a 422.
  if (kind === "rollback") {
    const plan = await planRollback(snap);
    if (plan.refusal) throw new InvalidInputError(plan.refusal.reason, { refusal: plan.refusal });
  } else {
    const refusal = await planVerify(snap);
    if (refusal) throw new InvalidInputError(refusal);
  }
  const boss = requireBoss();
  const json = await db().$transaction(async (tx) => {
    const [vm] = await tx.$queryRaw<Array<{ id: string; name: string; hostId: string }>>`
      SELECT id, name, "hostId" FROM "Vm" WHERE id = ${snap.vmId}::uuid FOR UPDATE`;
    if (!vm) throw new NotFoundError(`no VM with id ${snap.vmId}`);
    const current = await tx.snapshot.findUnique({
      where: { id: snapshotId },
      select: { deletingSince: true, deletedAt: true, status: true },
    });
    if (!current || current.deletedAt || current.deletingSince)
      throw new ConflictError("the snapshot is being deleted or was deleted", { snapshotId });
    if (!(await tryAdvisoryXactLock(tx, lockKey("vm", vm.id))))
      throw new ConflictError(`a snapshot of VM ${vm.name} is being deleted: retry in a moment`, { vmId: vm.id });
    const running = await tx.restore.findFirst({
      where: { vmId: vm.id, status: { in: ["queued", "setup", "active"] } },
      select: { id: true, kind: true, status: true },
    });
    if (running) throw new RestoreInProgressError(running.id, running.kind, running.status, vm.name);
    if (kind === "rollback") {
      const busy = await tx.snapshot.findFirst({
        where: { vmId: vm.id, status: { in: [...RUNNING_SNAPSHOT_STATUSES] } },
        select: { id: true, status: true },
      });
      if (busy)
        throw new ConflictError(
          `VM ${vm.name} has a snapshot in progress (${busy.status}): roll back once it is done`,
          { snapshotId: busy.id },
        );
    }
    const now = new Date();
    const row = await tx.restore.create({
      data: {
        kind,
        vmId: vm.id,
        hostId: vm.hostId,
        snapshotId,
        status: "queued",
        createdAt: now,
        history: { create: { status: "queued", at: now } },
      },
      include: restoreInclude,
    });
    const data: RestoreRunJobData = { restoreId: row.id };
    await boss.send(RESTORE_RUN_QUEUE, data, { id: row.id, db: fromPrisma(tx) });
    return toRestoreJson(row, false);
  });
  await publishRestore(json);
  return json;
}

export async function getRestore(id: string): Promise<RestoreJson> {
  const row = await db().restore.findUnique({ where: { id }, include: restoreInclude, omit: { screenshot: true } });
  if (!row) throw new NotFoundError(`no restore with id ${id}`);
  return toRestoreJson(row as RestoreRow);
}

/** A VM's restores (rollbacks and verifications), newest first. */
export async function listVmRestores(vmId: string, limit = 20): Promise<RestoreJson[]> {
  const rows = await db().restore.findMany({
    where: { vmId },
    orderBy: { createdAt: "desc" },
    take: limit,
    include: restoreInclude,
    omit: { screenshot: true },
  });
  return rows.map((r) => toRestoreJson(r as RestoreRow));
}

/** The latest verification of a snapshot (any outcome), or null. */
export async function latestVerification(snapshotId: string): Promise<RestoreJson | null> {
  const row = await db().restore.findFirst({
    where: { snapshotId, kind: "verify" },
    orderBy: { createdAt: "desc" },
    include: restoreInclude,
    omit: { screenshot: true },
  });
  return row ? toRestoreJson(row as RestoreRow) : null;
}

/** The console picture of the snapshot's latest successful verification. */
export async function verificationScreenshot(snapshotId: string): Promise<Buffer | null> {
  const row = await db().restore.findFirst({
    where: { snapshotId, kind: "verify", status: "completed", screenshot: { not: null } },
    orderBy: { createdAt: "desc" },
    select: { screenshot: true },
  });
  return row?.screenshot ? Buffer.from(row.screenshot) : null;
}

export interface RestoreTransitionOptions {
  detail?: string | null;
  data?: Omit<Prisma.RestoreUpdateInput, "status" | "history">;
}

export class InvalidRestoreTransitionError extends Error {
  constructor(from: string, to: string) {
    super(`a restore cannot go from ${from} to ${to}`);
  }
}

/** Moves a restore to `to` (checked under a row lock), records and publishes it. */
export async function transitionRestore(
  id: string,
  to: RestoreStatusName,
  opts: RestoreTransitionOptions = {},
): Promise<RestoreJson> {
  const json = await db().$transaction(async (tx) => {
    const [row] = await tx.$queryRaw<
      Array<{ status: RestoreStatusName }>
    >`SELECT status::text AS status FROM "Restore" WHERE id = ${id}::uuid FOR UPDATE`;
    if (!row) throw new NotFoundError(`no restore with id ${id}`);
    if (!RESTORE_TRANSITIONS[row.status].includes(to)) throw new InvalidRestoreTransitionError(row.status, to);
    const updated = await tx.restore.update({
      where: { id },
      data: {
        ...opts.data,
        status: to,
        history: { create: { status: to, at: new Date(), detail: opts.detail ?? null } },
      },
      include: restoreInclude,
      omit: { screenshot: true },
    });
    return toRestoreJson(updated as RestoreRow);
  });
  await publishRestore(json);
  // Webhooks (lib/webhooks/emit.ts): one short insert + enqueue, no receiver is waited on; `data.restore` is this JSON.
  if (to === "completed" || to === "failed") await emitWebhookEvent(`restore.${to}`, { restore: json });
  return json;
}

/** Records what the run did so far (steps, pids) without a status change, and publishes it. */
export async function recordRestoreResult(
  id: string,
  result: Record<string, unknown>,
  extra: Prisma.RestoreUpdateInput = {},
): Promise<RestoreJson> {
  const updated = await db().restore.update({
    where: { id },
    data: { result: result as Prisma.InputJsonValue, ...extra },
    include: restoreInclude,
    omit: { screenshot: true },
  });
  const json = toRestoreJson(updated as RestoreRow);
  await publishRestore(json);
  return json;
}

export { restoreIsRunning };
