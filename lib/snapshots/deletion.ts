// Deleting a snapshot, crash-safe and idempotent (docs/disk-chains.md, "Deleting"). The row enters the
// `deleting` state (deletingSince) with a journal — one step per artifact of its ledger (artifacts.ts),
// in removal order — written BEFORE anything is removed; each step is marked running before it is made
// and done (with what happened) after, so a dashboard that dies mid-way leaves a journal the next one
// finishes (recovery.ts resumes it) and an operator can read. The row is marked deleted (kept for
// history) only once every step is done. Used by DELETE /api/snapshots/{id} and by retention.
// Invariants:
//  - refuses while the snapshot or another job of its VM runs, and while another deletion of the VM
//    holds the advisory lock vm:<id> (no new snapshot of that VM starts meanwhile either);
//  - removes exactly what the ledger names, each only once proven unused (remove-artifacts.ts); a step
//    that cannot be done stops the deletion with the reason on the journal, nothing after it is touched;
//  - a VM whose disks drifted from the record (disk-drift.ts) gets no disk-touching step until an
//    operator acknowledged exactly those findings;
//  - deleting a deleted snapshot returns it unchanged; deleting a `deleting` one resumes its journal;
//  - runs in the process owning the VM's monitor (lib/fleet/vm-lease.ts): an idle owner elsewhere is asked
//    to hand the VM over (bounded wait, claimWaitMs), a busy one answers 409 (NotOwnerError).
import { lockKey, tryAdvisoryLock } from "../db/advisory-locks";
import { db } from "../db/client";
import type { Prisma } from "../db/generated/client";
import { ConflictError, NotFoundError } from "../errors";
import { hostAccessFor } from "../fleet/host-access";
import { getVmSession } from "../fleet/sessions";
import { holdVm } from "../fleet/vm-lease";
import type { Logger } from "../logger";
import type { QmpClient } from "../qmp";
import {
  describeArtifact,
  legacyArtifacts,
  parseArtifacts,
  RemovalBlockedError,
  type Artifact,
  type OverlayArtifact,
} from "./artifacts";
import { parseJournal, type DeletionJournal } from "./deletion-journal";
import { checkDiskDrift, driftAcknowledged, driftBlocksDestruction } from "./disk-drift";
import { publishSnapshot } from "./jobs";
import { removeArtifact } from "./remove-artifacts";
import { snapshotInclude, toSnapshotJson } from "./serialize";
import type { SnapshotJson } from "./snapshot-json";
import { RUNNING_SNAPSHOT_STATUSES } from "../validations/snapshot";
import { sinkStatusPathOf } from "./vmstate-sink";

/** Removal order: disk state first (internal snapshots, legacy layers), then files, then directories deepest first. */
function removalOrder(artifacts: Artifact[]): Artifact[] {
  const rank = (a: Artifact) =>
    a.kind === "internal-snapshot" || a.kind === "overlay" ? 0 : a.kind === "file" ? 1 : 2;
  const dirs = artifacts.filter((a) => a.kind === "dir").sort((x, y) => y.path.length - x.path.length);
  return [...artifacts.filter((a) => rank(a) < 2).sort((x, y) => rank(x) - rank(y)), ...dirs];
}

const DEFAULT_CLAIM_WAIT_MS = 8_000;

type Row = Prisma.SnapshotGetPayload<{ include: { vm: { include: { host: true } } } }>;

async function saveJournal(
  id: string,
  journal: DeletionJournal,
  extra: Prisma.SnapshotUpdateInput = {},
): Promise<SnapshotJson> {
  const updated = await db().snapshot.update({
    where: { id },
    data: { deletion: journal as unknown as Prisma.InputJsonValue, ...extra },
    include: snapshotInclude,
  });
  const json = toSnapshotJson(updated);
  await publishSnapshot(json);
  return json;
}

export interface DeleteOptions {
  log?: Logger;
  reason?: string;
  /**
   * How long to wait for another process owning the VM to hand it over (default 8 s: an idle owner does
   * within 2 s, a dead one loses it within 6 s). 0: fail at once with NotOwnerError (recovery sweeps).
   */
  claimWaitMs?: number;
  /** Called after each step is recorded done (tests end the process there, as a crash would). */
  afterStep?: (index: number) => void | Promise<void>;
}

/**
 * Deletes (or resumes deleting) a snapshot. Throws NotFoundError, ConflictError (running, VM busy,
 * disks drifted, a step blocked: the reason is on the journal too).
 */
export async function deleteSnapshot(id: string, opts: DeleteOptions = {}): Promise<SnapshotJson> {
  const row = await db().snapshot.findUnique({ where: { id }, include: { vm: { include: { host: true } } } });
  if (!row) throw new NotFoundError(`no snapshot with id ${id}`);
  if (row.deletedAt)
    return toSnapshotJson(await db().snapshot.findUniqueOrThrow({ where: { id }, include: snapshotInclude }));
  if (RUNNING_SNAPSHOT_STATUSES.includes(row.status)) {
    throw new ConflictError(`the snapshot is ${row.status}: cancel it first, or wait for it to finish`, {
      snapshotId: id,
      status: row.status,
    });
  }
  // The VM's monitor is this process's for the whole deletion (its owner elsewhere hands it over when idle).
  const unhold = await holdVm(row.vmId, {
    claimWaitMs: opts.claimWaitMs ?? DEFAULT_CLAIM_WAIT_MS,
    vmName: row.vm.name,
  });
  const lock = await tryAdvisoryLock(lockKey("vm", row.vmId)).catch((err: unknown) => {
    unhold();
    throw err;
  });
  if (!lock) {
    unhold();
    throw new ConflictError(`another snapshot of VM ${row.vm.name} is being deleted: retry in a moment`, {
      vmId: row.vmId,
    });
  }
  try {
    const busy = await db().snapshot.findFirst({
      where: { vmId: row.vmId, status: { in: [...RUNNING_SNAPSHOT_STATUSES] } },
      select: { id: true, status: true },
    });
    if (busy) {
      throw new ConflictError(
        `VM ${row.vm.name} has a snapshot in progress (${busy.status}): delete this one once it is done`,
        { snapshotId: busy.id },
      );
    }
    // A rollback holds the VM's images; a verification reads this VM's internal snapshots (lib/restore).
    const restoring = await db().restore.findFirst({
      where: { vmId: row.vmId, status: { in: ["queued", "setup", "active"] } },
      select: { id: true, kind: true },
    });
    if (restoring) {
      throw new ConflictError(
        `VM ${row.vm.name} has a ${restoring.kind === "rollback" ? "rollback" : "verification"} in progress: delete once it is done`,
        { restoreId: restoring.id },
      );
    }
    return await runDeletion(row, opts);
  } finally {
    await lock.release();
    unhold();
  }
}

/** Resumes the deletions a dead process left in `deleting` (their VM lock is free). Returns how many it finished. */
export async function resumeInterruptedDeletions(log: Logger): Promise<number> {
  const rows = await db().snapshot.findMany({
    where: { deletingSince: { not: null }, deletedAt: null },
    select: { id: true, vmId: true },
  });
  let finished = 0;
  for (const r of rows) {
    try {
      // Only VMs this process owns or whose lease is free: the owner's own sweep resumes the others.
      const json = await deleteSnapshot(r.id, { log, reason: "resumed after a restart", claimWaitMs: 0 });
      if (json.deletedAt) finished++;
    } catch (err) {
      // Busy VM (its deletion is alive elsewhere) or a blocked step: the journal says why; next sweep retries.
      log.debug({ err, snapshot: r.id }, "interrupted deletion not finished yet");
    }
  }
  return finished;
}

async function runDeletion(row: Row, opts: DeleteOptions): Promise<SnapshotJson> {
  const log = opts.log?.child({ snapshot: row.id });
  let journal = parseJournal(row.deletion);
  if (!row.deletingSince || !journal) {
    const ledger = parseArtifacts(row.artifacts);
    const artifacts = ledger.length ? ledger : legacyArtifacts(row, sinkStatusPathOf);
    journal = {
      reason: opts.reason ?? "deleted",
      startedAt: new Date().toISOString(),
      steps: removalOrder(artifacts).map((artifact) => ({ artifact, state: "pending" })),
    };
  }
  const touchesDisks = journal.steps.some(
    (s) => s.state !== "done" && (s.artifact.kind === "internal-snapshot" || s.artifact.kind === "overlay"),
  );
  // Judge the VM's disks as they are now, not as the last sweep saw them (unreachable: the last verdict stands).
  if (touchesDisks)
    await checkDiskDrift(row.vmId).catch((err: unknown) =>
      log?.warn({ err }, "checking the VM's disks before the deletion failed"),
    );
  const vm = await db().vm.findUniqueOrThrow({ where: { id: row.vmId }, select: { name: true, diskDrift: true } });
  const drift = driftBlocksDestruction(vm.diskDrift);
  if (touchesDisks && drift) {
    throw new ConflictError(
      `VM ${vm.name}'s disks no longer match what Snapfleet recorded (${drift.join("; ")}): review this on the VM's page and confirm before deleting`,
      { vmId: row.vmId },
    );
  }
  // The journal is on the row before the first step: from here a crash leaves `deleting`, never a half-deleted "completed".
  await saveJournal(row.id, { ...journal, error: undefined }, row.deletingSince ? {} : { deletingSince: new Date() });

  let qmp: QmpClient | undefined;
  if (touchesDisks || journal.steps.some((s) => s.artifact.kind === "file" && s.state !== "done")) {
    qmp = await getVmSession(row.vmId).catch((err: unknown) => {
      log?.info({ err }, "VM not reachable for the deletion: steps that need it wait, the others go offline");
      return undefined;
    });
  }
  // The host-access seam: local fs, SFTP + the host's /proc over SSH, or nothing but QMP (TLS).
  const ctx = { qmp, files: hostAccessFor(row.vm.host).files, driftAcknowledged: driftAcknowledged(vm.diskDrift) };
  for (const step of journal.steps) {
    if (step.state === "done") continue;
    step.state = "running";
    step.at = new Date().toISOString();
    await saveJournal(row.id, journal);
    try {
      step.note = await removeArtifact(step.artifact, ctx);
      step.state = "done";
      if (step.artifact.kind === "overlay" && step.note.includes("merged"))
        await inheritLayer(row.vmId, row.id, step.artifact);
      log?.info({ step: describeArtifact(step.artifact), note: step.note }, "deletion step done");
    } catch (err) {
      step.state = "failed";
      step.note = (err as Error).message;
      journal.error = `${describeArtifact(step.artifact)}: ${step.note}`;
      await saveJournal(row.id, journal);
      const why = err instanceof RemovalBlockedError ? err.message : `unexpected error: ${(err as Error).message}`;
      throw new ConflictError(
        `the snapshot is being deleted but a step is blocked: ${why}. Delete again to retry once that is resolved`,
        { snapshotId: row.id },
        { cause: err },
      );
    }
    await saveJournal(row.id, journal);
    await opts.afterStep?.(journal.steps.indexOf(step));
  }
  const json = await saveJournal(row.id, journal, { deletedAt: new Date() });
  log?.info({ reason: journal.reason }, "snapshot deleted");
  return json;
}

/** Legacy: the kept snapshot whose disk image was `layer.path` now finds that state in `layer.base`. */
async function inheritLayer(vmId: string, deletedId: string, layer: OverlayArtifact): Promise<void> {
  const successors = await db().snapshot.findMany({
    where: { vmId, id: { not: deletedId }, deletedAt: null, status: "completed" },
    select: { id: true, files: true, diskChain: true },
  });
  for (const s of successors) {
    const chain = Array.isArray(s.diskChain) ? (s.diskChain as Array<Record<string, unknown>>) : [];
    if (!chain.some((e) => e.image === layer.path)) continue;
    const diskChain = chain.map((e) => (e.image === layer.path ? { ...e, image: layer.base } : e));
    const files = (Array.isArray(s.files) ? (s.files as Array<Record<string, unknown>>) : []).map((f) =>
      f.role === "disk" && f.path === layer.path ? { ...f, path: layer.base } : f,
    );
    const updated = await db().snapshot.update({
      where: { id: s.id },
      data: { diskChain: diskChain as Prisma.InputJsonValue, files: files as Prisma.InputJsonValue },
      include: snapshotInclude,
    });
    await publishSnapshot(toSnapshotJson(updated));
  }
}
