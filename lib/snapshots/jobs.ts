// Snapshot jobs in the database: creating one (exactly one running job per VM), moving it through the
// state machine with every change persisted (Snapshot row + SnapshotStatusChange) and published
// ("snapshot.updated" on `snapshot:<id>` and `vm:<id>`), progress ticks, cancel requests, and the
// worker body that runs a job against the VM's QMP session. The same createSnapshotJob serves
// "Snapshot now" and schedules; the HTTP request only enqueues.
// Invariants:
//  - createSnapshotJob locks the VM row (SELECT … FOR UPDATE) and checks for a running job in the
//    same transaction, and enqueues the pg-boss job in that transaction too: a row never exists without
//    its queue entry, and two concurrent requests cannot both pass (the second gets 409 + the id).
//  - Every status change goes through transitionSnapshot: row-locked, checked against
//    SNAPSHOT_TRANSITIONS, history row written in the same transaction, then published.
//  - A running job holds the advisory lock job:<id> on its own connection (locks.ts); crash recovery
//    (worker.ts) only touches in-flight rows whose lock is free, i.e. whose process died.
//  - createdAt is set here with millisecond precision so the (createdAt, id) keyset cursor is exact.
import path from "node:path";
import { fromPrisma } from "pg-boss";
import { db } from "../db/client";
import { Prisma } from "../db/generated/client";
import { ConflictError, InvalidInputError, NotFoundError } from "../errors";
import { getVmSession } from "../fleet/sessions";
import { hostFilesFor } from "../fleet/host-files";
import { requireBoss, SNAPSHOT_RUN_QUEUE, type SnapshotRunJobData } from "../jobs/boss";
import type { Logger } from "../logger";
import type { QmpClient } from "../qmp";
import { getHub } from "../realtime/hub";
import { FLEET_TOPIC, snapshotTopic, vmTopic } from "../realtime/messages";
import { toDbMode, type SnapshotListQuery, type SnapshotModeName } from "../validations/snapshot";
import { parseVmUndo, undoAfterCrash, type UndoOutcome } from "./crash-undo";
import { lockKey, tryAdvisoryLock } from "./locks";
import { runSnapshot, type SnapshotProgress, type SnapshotRunResult } from "./run-snapshot";
import { snapshotInclude, toSnapshotJson } from "./serialize";
import { SNAPSHOT_UPDATED_EVENT, type SnapshotJson } from "./snapshot-json";
import { describeSinkOutcome, inspectSink, sinkStatusPathOf } from "./vmstate-sink";
import { assertTransition, IN_FLIGHT_STATUSES, InvalidSnapshotTransitionError, RUNNING_STATUSES, type SnapshotStatusName } from "./state-machine";

/** 409 with the running job's id, so the UI can open it. */
export class SnapshotInProgressError extends ConflictError {
  constructor(
    readonly snapshotId: string,
    status: string,
    vmName: string,
  ) {
    super(`VM ${vmName} already has a snapshot in progress (${status}): wait for it to finish or cancel it`, { snapshotId, status });
  }
}

/** Directory of a VM's snapshots under the host's snapshot directory: readable and unique per VM. */
export function vmDirName(vm: { id: string; name: string }): string {
  const safe = vm.name.replace(/[^A-Za-z0-9._-]/g, "_").replace(/^\.+/, "").slice(0, 48);
  return `${safe || "vm"}-${vm.id.slice(0, 8)}`;
}

export function snapshotDirOf(host: { snapshotDir: string }, vm: { id: string; name: string }, snapshotId: string): string {
  return path.join(host.snapshotDir, vmDirName(vm), snapshotId);
}

/**
 * Pushes the row's JSON on `snapshot:<id>` and `vm:<id>`; status changes (not progress ticks) also go
 * to `fleet`, so the fleet-wide history page follows new and finished jobs without a topic per VM.
 */
export async function publishSnapshot(json: SnapshotJson, opts: { fleet?: boolean } = { fleet: true }): Promise<void> {
  const hub = getHub();
  if (!hub) return;
  await hub.publish({ topic: snapshotTopic(json.id), name: SNAPSHOT_UPDATED_EVENT, payload: json });
  await hub.publish({ topic: vmTopic(json.vmId), name: SNAPSHOT_UPDATED_EVENT, payload: json });
  if (opts.fleet) await hub.publish({ topic: FLEET_TOPIC, name: SNAPSHOT_UPDATED_EVENT, payload: json });
}

export interface CreateSnapshotJobInput {
  vmId: string;
  mode: SnapshotModeName;
  note?: string;
  scheduleId?: string;
  prunable?: boolean;
}

export async function createSnapshotJob(input: CreateSnapshotJobInput): Promise<SnapshotJson> {
  const boss = requireBoss();
  const json = await db().$transaction(async (tx) => {
    const [vm] = await tx.$queryRaw<Array<{ id: string; name: string; state: string; hostId: string }>>`
      SELECT id, name, state::text AS state, "hostId" FROM "Vm" WHERE id = ${input.vmId}::uuid FOR UPDATE`;
    if (!vm) throw new NotFoundError(`no VM with id ${input.vmId}`);
    if (vm.state === "gone" || vm.state === "shutdown") {
      throw new InvalidInputError(`VM ${vm.name} is ${vm.state === "gone" ? "gone" : "shut down"}: only a running or paused VM can be snapshotted`);
    }
    const [free] = await tx.$queryRaw<Array<{ ok: boolean }>>`
      SELECT pg_try_advisory_xact_lock(hashtextextended(${lockKey("vm", vm.id)}, 0)) AS ok`;
    if (!free?.ok) {
      throw new ConflictError(`a snapshot of VM ${vm.name} is being deleted (its disk layers are being merged): retry in a moment`, { vmId: vm.id });
    }
    const running = await tx.snapshot.findFirst({
      where: { vmId: vm.id, status: { in: [...RUNNING_STATUSES] } },
      orderBy: { createdAt: "asc" },
      select: { id: true, status: true },
    });
    if (running) throw new SnapshotInProgressError(running.id, running.status, vm.name);
    const now = new Date();
    const row = await tx.snapshot.create({
      data: {
        vmId: vm.id,
        hostId: vm.hostId,
        mode: toDbMode(input.mode),
        note: input.note || null,
        scheduleId: input.scheduleId ?? null,
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

function encodeCursor(createdAt: Date, id: string): string {
  return Buffer.from(`${createdAt.toISOString()}|${id}`).toString("base64url");
}

function decodeCursor(cursor: string): { createdAt: Date; id: string } {
  const [at, id] = Buffer.from(cursor, "base64url").toString("utf8").split("|");
  const createdAt = new Date(at ?? "");
  if (!id || !/^[0-9a-f-]{36}$/i.test(id) || Number.isNaN(createdAt.getTime())) {
    throw new InvalidInputError("cursor is not one this API returned");
  }
  return { createdAt, id };
}

/** Newest first, keyset-paginated on (createdAt, id); deleted snapshots are left out. */
export async function listSnapshots(q: SnapshotListQuery): Promise<{ snapshots: SnapshotJson[]; nextCursor: string | null }> {
  const and: Prisma.SnapshotWhereInput[] = [{ deletedAt: null }];
  if (q.vmId) and.push({ vmId: q.vmId });
  if (q.hostId) and.push({ hostId: q.hostId });
  if (q.status?.length) and.push({ status: { in: q.status } });
  if (q.from) and.push({ createdAt: { gte: new Date(q.from) } });
  if (q.to) and.push({ createdAt: { lte: new Date(q.to) } });
  if (q.cursor) {
    const c = decodeCursor(q.cursor);
    and.push({ OR: [{ createdAt: { lt: c.createdAt } }, { createdAt: c.createdAt, id: { lt: c.id } }] });
  }
  const rows = await db().snapshot.findMany({
    where: { AND: and },
    orderBy: [{ createdAt: "desc" }, { id: "desc" }],
    take: q.limit + 1,
    include: snapshotInclude,
  });
  const page = rows.slice(0, q.limit);
  const last = page.at(-1);
  return {
    snapshots: page.map(toSnapshotJson),
    nextCursor: rows.length > q.limit && last ? encodeCursor(last.createdAt, last.id) : null,
  };
}

export interface TransitionOptions {
  detail?: string | null;
  data?: Omit<Prisma.SnapshotUpdateInput, "status" | "history">;
}

/** Moves a snapshot to `to` (checked against the table under a row lock), records and publishes it. */
export async function transitionSnapshot(id: string, to: SnapshotStatusName, opts: TransitionOptions = {}): Promise<SnapshotJson> {
  const json = await db().$transaction(async (tx) => {
    const [row] = await tx.$queryRaw<Array<{ status: SnapshotStatusName }>>`
      SELECT status::text AS status FROM "Snapshot" WHERE id = ${id}::uuid FOR UPDATE`;
    if (!row) throw new NotFoundError(`no snapshot with id ${id}`);
    assertTransition(row.status, to);
    const updated = await tx.snapshot.update({
      where: { id },
      data: { ...opts.data, status: to, history: { create: { status: to, at: new Date(), detail: opts.detail ?? null } } },
      include: snapshotInclude,
    });
    return toSnapshotJson(updated);
  });
  await publishSnapshot(json);
  return json;
}

// In-process cancel fast path: the worker's AbortController per running job (the DB flag is the
// cross-process path, polled by the worker).
const g = globalThis as typeof globalThis & { __snapfleetSnapshotAborts?: Map<string, AbortController> };
const aborts = (g.__snapfleetSnapshotAborts ??= new Map());

/**
 * Cancels a job: a queued one at once; a running one by flagging it — the worker then lets QEMU
 * finish into a discarding sink (never migrate_cancel on 7.2) and rolls everything back.
 */
export async function requestSnapshotCancel(id: string): Promise<SnapshotJson> {
  const json = await db().$transaction(async (tx) => {
    const [row] = await tx.$queryRaw<Array<{ status: SnapshotStatusName }>>`
      SELECT status::text AS status FROM "Snapshot" WHERE id = ${id}::uuid FOR UPDATE`;
    if (!row) throw new NotFoundError(`no snapshot with id ${id}`);
    if (!RUNNING_STATUSES.includes(row.status)) throw new ConflictError(`the snapshot is already ${row.status}: nothing to cancel`, { status: row.status });
    const at = new Date();
    const data: Prisma.SnapshotUpdateInput =
      row.status === "queued"
        ? { status: "cancelled", cancelRequested: true, finishedAt: at, history: { create: { status: "cancelled", at, detail: "cancelled before it started" } } }
        : { cancelRequested: true };
    return toSnapshotJson(await tx.snapshot.update({ where: { id }, data, include: snapshotInclude }));
  });
  aborts.get(id)?.abort();
  await publishSnapshot(json);
  return json;
}

const PROGRESS_PUBLISH_MS = 400;

export interface ExecuteSnapshotJobOptions {
  log: Logger;
  pollIntervalMs?: number;
  /** How often the worker reads the cancel flag set by another process. */
  cancelPollMs?: number;
  sinkDir?: string;
  /** Called after each status change is persisted (tests use it to act at a precise step). */
  afterStatus?: (status: SnapshotStatusName, snapshotId: string) => void | Promise<void>;
}

/**
 * The worker body for one job: runs it if it is still queued, persisting every step. Never throws;
 * returns the final JSON (or undefined when the job was not this worker's to run).
 */
export async function executeSnapshotJob(snapshotId: string, opts: ExecuteSnapshotJobOptions): Promise<SnapshotJson | undefined> {
  const log = opts.log.child({ snapshot: snapshotId });
  const lock = await tryAdvisoryLock(lockKey("job", snapshotId));
  if (!lock) {
    log.warn("snapshot job is already being run by another worker");
    return undefined;
  }
  const controller = new AbortController();
  aborts.set(snapshotId, controller);
  let cancelTimer: NodeJS.Timeout | undefined;
  try {
    const row = await db().snapshot.findUnique({ where: { id: snapshotId }, include: { vm: { include: { host: true } } } });
    if (!row || row.status !== "queued" || row.deletedAt) return undefined;
    const { vm } = row;
    const after = async (status: SnapshotStatusName) => {
      try {
        await opts.afterStatus?.(status, snapshotId);
      } catch (err) {
        log.warn({ err }, "afterStatus hook failed");
      }
    };
    try {
      await transitionSnapshot(snapshotId, "preflight", { data: { startedAt: new Date() } });
    } catch (err) {
      // Cancelled (queued → cancelled) between our read and now: nothing to run.
      if (err instanceof InvalidSnapshotTransitionError) return undefined;
      throw err;
    }
    await after("preflight");

    let qmp: QmpClient;
    try {
      qmp = await getVmSession(vm.id);
    } catch (err) {
      return await finishJob(snapshotId, {
        status: "failed",
        error: { errorClass: "vm-unreachable", message: (err as Error).message },
      });
    }

    cancelTimer = setInterval(() => {
      db()
        .snapshot.findUnique({ where: { id: snapshotId }, select: { cancelRequested: true } })
        .then((r) => r?.cancelRequested && controller.abort())
        .catch((err) => log.debug({ err }, "reading the cancel flag failed"));
    }, opts.cancelPollMs ?? 500);

    let lastPublish = 0;
    const result = await runSnapshot({
      qmp,
      snapshotId,
      mode: row.mode.replace("_", "-") as SnapshotModeName,
      vmDirName: vmDirName(vm),
      hostKind: vm.host.kind,
      hostFiles: hostFilesFor(vm.host),
      snapshotRoot: vm.host.snapshotDir,
      bgSnapshotBlocker: vm.bgSnapshotBlocker,
      signal: controller.signal,
      pollIntervalMs: opts.pollIntervalMs,
      sinkDir: opts.sinkDir,
      log,
      hooks: {
        onStatus: async (status, detail) => {
          if (status !== "preflight") await transitionSnapshot(snapshotId, status, { detail });
          await after(status);
        },
        onProgress: async (p) => {
          const now = Date.now();
          const publish = now - lastPublish >= PROGRESS_PUBLISH_MS;
          if (publish) lastPublish = now;
          await recordProgress(snapshotId, p, publish);
        },
        onUndoChange: async (undo) => {
          await db().snapshot.update({ where: { id: snapshotId }, data: { undoOnCrash: undo ? (undo as Prisma.InputJsonValue) : Prisma.DbNull } });
        },
      },
    });
    return await finishJob(snapshotId, result);
  } catch (err) {
    log.error({ err }, "snapshot job failed unexpectedly");
    return await finishJob(snapshotId, {
      status: "failed",
      error: { errorClass: "internal", message: `unexpected error in the snapshot worker: ${(err as Error).message}` },
    }).catch((e) => {
      log.error({ err: e }, "could not mark the snapshot failed");
      return undefined;
    });
  } finally {
    clearInterval(cancelTimer);
    aborts.delete(snapshotId);
    await lock.release();
  }
}

async function recordProgress(id: string, p: SnapshotProgress, publish: boolean): Promise<void> {
  const { count } = await db().snapshot.updateMany({
    where: { id, status: "active" },
    data: {
      progress: p.progress,
      ramTotalBytes: BigInt(p.ramTotalBytes),
      ramTransferredBytes: BigInt(p.ramTransferredBytes),
      throughputBytesPerSec: BigInt(p.throughputBytesPerSec),
    },
  });
  if (count && publish) await publishSnapshot(await getSnapshot(id), { fleet: false });
}

const big = (n: number | undefined) => (n === undefined ? undefined : BigInt(Math.round(n)));

type FinalResult = Pick<SnapshotRunResult, "status" | "error"> & Partial<SnapshotRunResult>;

async function finishJob(id: string, r: FinalResult): Promise<SnapshotJson> {
  const m = r.metrics ?? {};
  const message = r.error?.message;
  return transitionSnapshot(id, r.status, {
    detail: message ?? r.detail ?? null,
    data: {
      finishedAt: new Date(),
      ...(r.status === "completed" ? { progress: 1 } : {}),
      guestPauseMs: m.guestPauseMs,
      qemuDowntimeMs: m.qemuDowntimeMs,
      setupMs: m.setupMs,
      totalMs: m.totalMs,
      ramTotalBytes: big(m.ramTotalBytes),
      ramTransferredBytes: big(m.ramTransferredBytes),
      throughputBytesPerSec: big(m.throughputBytesPerSec),
      sizeBytes: big(m.sizeBytes),
      files: (r.files ?? []) as unknown as Prisma.InputJsonValue,
      diskChain: (r.diskChain ?? []) as unknown as Prisma.InputJsonValue,
      errorClass: r.error?.errorClass ?? null,
      errorMessage: message ?? null,
      undoOnCrash: Prisma.DbNull,
    },
  });
}

/**
 * Fails the in-flight jobs whose worker died (their job lock is free) and removes their vmstate and the
 * sink's status file. Returns how many were recovered. Safe to run in any process at any time.
 * First it puts back what the dead run had changed on the VM (crash-undo.ts: resumes a guest it had
 * paused, puts the migration capabilities back) as far as QEMU allows at that moment; what must wait
 * for QEMU keeps the job in flight for the next sweep.
 * The RAM stream of such a job is served by a sink process that outlives the dashboard
 * (vmstate-sink.ts): while it still runs, QEMU is still streaming (or may still connect), so the job is
 * left in flight — a new snapshot of that VM would be refused by QEMU anyway — and the next sweep fails
 * it, quoting the sink's status file. A job is never finalized as completed here, even when the sink
 * says the vmstate was complete: the rest of the job (the disk-chain record, metrics, re-pausing a
 * paused VM) died with the dashboard, and a snapshot row without its disk chain could not be restored
 * or merged later. So it is failed, and the file removed.
 */
export async function recoverInterruptedSnapshots(log: Logger): Promise<number> {
  const rows = await db().snapshot.findMany({
    where: { status: { in: [...IN_FLIGHT_STATUSES] } },
    include: { vm: { include: { host: true } } },
  });
  let recovered = 0;
  for (const row of rows) {
    const lock = await tryAdvisoryLock(lockKey("job", row.id));
    if (!lock) continue; // its worker is alive
    try {
      const current = await db().snapshot.findUnique({ where: { id: row.id }, select: { status: true, undoOnCrash: true } });
      if (!current || !IN_FLIGHT_STATUSES.includes(current.status)) continue;
      const undone = await undoDeadRun(row.id, row.vm.id, current.undoOnCrash, log);
      const dir = snapshotDirOf(row.vm.host, row.vm, row.id);
      const vmstate = path.join(dir, "vmstate.bin");
      // The sink is a local process: its status file is on this machine, whatever the host kind.
      const sink = await inspectSink(vmstate);
      if (sink?.alive || undone?.remaining) {
        log.warn(
          { snapshot: row.id, sinkPid: sink?.status.pid, sinkState: sink?.status.state, undoLeft: undone?.remaining },
          sink?.alive
            ? "snapshot interrupted by a restart: its vmstate sink is still draining QEMU's stream; the job is failed once it has finished"
            : "snapshot interrupted by a restart: QEMU is still migrating; what the run changed on the VM is put back by the next sweep",
        );
        continue;
      }
      const files = hostFilesFor(row.vm.host);
      for (const p of [vmstate, sinkStatusPathOf(vmstate)]) {
        await files.remove(p).catch((err) => log.warn({ err, snapshot: row.id, path: p }, "could not remove a file of an interrupted snapshot"));
      }
      const touched = current.status !== "preflight";
      const onVm = describeUndone(undone);
      const overlayHint = `Any new disk overlay in ${dir} is the VM's active layer`;
      const message = !touched
        ? "the dashboard restarted during the snapshot's preflight; the VM was not touched"
        : sink
          ? `the dashboard restarted during the snapshot (it was ${current.status}); ${describeSinkOutcome(sink.status)}. ` +
            `The job cannot be finished without the process that ran it, so nothing was kept. ${onVm}${overlayHint}`
          : `the dashboard restarted during the snapshot (it was ${current.status}); the partial vmstate was removed. ` +
            `If RAM was streaming, QEMU 7.2 may have left the guest frozen (QEMU.md §2). ${onVm}${overlayHint}`;
      await finishJob(row.id, { status: "failed", error: { errorClass: "interrupted", message } });
      recovered++;
      log.warn({ snapshot: row.id, status: current.status, sink: sink?.status.state }, "failed a snapshot interrupted by a restart");
    } finally {
      await lock.release();
    }
  }
  return recovered;
}

/** Puts back what a dead run changed on the VM; keeps what is left on the row. Undefined: nothing recorded. */
async function undoDeadRun(snapshotId: string, vmId: string, recorded: unknown, log: Logger): Promise<UndoOutcome | undefined> {
  const undo = parseVmUndo(recorded);
  if (!undo) return undefined;
  let outcome: UndoOutcome;
  try {
    outcome = await undoAfterCrash(await getVmSession(vmId), undo);
  } catch (err) {
    // Unreachable VM: nothing can be put back from here; say so, and do not hold the job for it.
    outcome = { done: undo.done ?? [], failed: [`the VM could not be reached to put back what the snapshot had changed (${(err as Error).message})`], remaining: null };
  }
  if (outcome.done.length || outcome.failed.length) log.warn({ snapshot: snapshotId, ...outcome }, "put back what an interrupted snapshot had changed on the VM");
  if (outcome.remaining) {
    await db().snapshot.update({ where: { id: snapshotId }, data: { undoOnCrash: outcome.remaining as Prisma.InputJsonValue } });
  }
  return outcome;
}

function describeUndone(o: UndoOutcome | undefined): string {
  if (!o) return "";
  const parts = [...o.done, ...o.failed];
  if (!parts.length) return "";
  return `On the VM: ${parts.join("; ")}. `;
}

/** VMs and hosts that have snapshots, for the Snapshots page's filters. */
export async function snapshotFilterOptions(): Promise<{ vms: Array<{ id: string; name: string; hostName: string }>; hosts: Array<{ id: string; name: string }> }> {
  const [vms, hosts] = await Promise.all([
    db().vm.findMany({ where: { snapshots: { some: {} } }, select: { id: true, name: true, host: { select: { name: true } } }, orderBy: { name: "asc" } }),
    db().host.findMany({ where: { snapshots: { some: {} } }, select: { id: true, name: true }, orderBy: { name: "asc" } }),
  ]);
  return { vms: vms.map((v) => ({ id: v.id, name: v.name, hostName: v.host.name })), hosts };
}
