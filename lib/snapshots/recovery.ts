// Crash recovery of snapshot jobs: what a dead dashboard left in flight is failed with the reason, and
// what it had changed is put back — on the VM (crash-undo.ts: a guest it paused, the migration
// capabilities) and on the host (the run's artifact ledger: its vmstate, the sink's status file, the
// internal disk snapshots it took, each removed only once proven unused: remove-artifacts.ts). Deletions
// a dead process left in `deleting` are resumed (deletion.ts). Run at start and every minute by every
// worker process (worker.ts); safe to run anywhere at any time.
// Invariants: a job whose advisory lock job:<id> is held is alive and never touched; a vmstate whose
// sink still drains QEMU's stream is never cut (QEMU.md §2); nothing outside a row's ledger is removed.
import { db } from "../db/client";
import type { Prisma } from "../db/generated/client";
import { getVmSession } from "../fleet/sessions";
import { hostFilesFor } from "../fleet/host-files";
import type { Logger } from "../logger";
import { describeArtifact, parseArtifacts } from "./artifacts";
import { parseVmUndo, undoAfterCrash, type UndoOutcome } from "./crash-undo";
import { finishJob } from "./execute-job";
import { lockKey, tryAdvisoryLock } from "./locks";
import { removeArtifact } from "./remove-artifacts";
import { IN_FLIGHT_STATUSES } from "./state-machine";
import { describeSinkOutcome, inspectSink } from "./vmstate-sink";

/**
 * Fails the in-flight jobs whose worker died (their job lock is free) and removes what their ledger
 * names (vmstate, the sink's status file, internal disk snapshots, the directory). Returns how many were
 * recovered. Safe to run in any process at any time.
 * First it puts back what the dead run had changed on the VM (crash-undo.ts: resumes a guest it had
 * paused, puts the migration capabilities back) as far as QEMU allows at that moment; what must wait
 * for QEMU keeps the job in flight for the next sweep.
 * The RAM stream of such a job is served by a sink process that outlives the dashboard
 * (vmstate-sink.ts): while it still runs, QEMU is still streaming (or may still connect), so the job is
 * left in flight — a new snapshot of that VM would be refused by QEMU anyway — and the next sweep fails
 * it, quoting the sink's status file. A job is never finalized as completed here, even when the sink
 * says the vmstate was complete: the rest of the job (the disk record, metrics, re-pausing a paused
 * VM) died with the dashboard. So it is failed, and its artifacts removed; what cannot be removed now
 * (the VM unreachable, a file in use) stays in the ledger for the operator's delete.
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
      const ledger = parseArtifacts(row.artifacts);
      const vmstate = ledger.flatMap((a) => (a.kind === "file" && a.what === "vmstate" ? [a.path] : []))[0];
      // The sink is a local process: its status file is on this machine, whatever the host kind.
      const sink = vmstate ? await inspectSink(vmstate) : null;
      if (sink?.alive || undone?.remaining) {
        log.warn(
          { snapshot: row.id, sinkPid: sink?.status.pid, sinkState: sink?.status.state, undoLeft: undone?.remaining },
          sink?.alive
            ? "snapshot interrupted by a restart: its vmstate sink is still draining QEMU's stream; the job is failed once it has finished"
            : "snapshot interrupted by a restart: QEMU is still migrating; what the run changed on the VM is put back by the next sweep",
        );
        continue;
      }
      const left = await removeLedger(row, ledger, log);
      const touched = current.status !== "preflight";
      const onVm = describeUndone(undone);
      const onHost = left.length
        ? `Kept for now (deleting this snapshot removes them once possible): ${left.join("; ")}.`
        : ledger.length
          ? "Everything the snapshot had created was removed."
          : "";
      const message = !touched
        ? `the dashboard restarted during the snapshot's preflight; the VM was not touched. ${onHost}`.trim()
        : sink
          ? `the dashboard restarted during the snapshot (it was ${current.status}); ${describeSinkOutcome(sink.status)}. ` +
            `The job cannot be finished without the process that ran it, so nothing was kept. ${onVm}${onHost}`
          : `the dashboard restarted during the snapshot (it was ${current.status}). ` +
            `If RAM was streaming, QEMU 7.2 may have left the guest frozen (QEMU.md §2). ${onVm}${onHost}`;
      await finishJob(row.id, { status: "failed", error: { errorClass: "interrupted", message } });
      recovered++;
      log.warn({ snapshot: row.id, status: current.status, sink: sink?.status.state }, "failed a snapshot interrupted by a restart");
    } finally {
      await lock.release();
    }
  }
  return recovered;
}

/** Removes a dead run's artifacts that are provably unused; returns what had to stay, in words. */
async function removeLedger(
  row: { id: string; vmId: string; vm: { host: Parameters<typeof hostFilesFor>[0] } },
  ledger: ReturnType<typeof parseArtifacts>,
  log: Logger,
): Promise<string[]> {
  const qmp = await getVmSession(row.vmId).catch(() => undefined);
  const ctx = { qmp, files: hostFilesFor(row.vm.host), driftAcknowledged: false };
  const left: string[] = [];
  for (const a of [...ledger].reverse()) {
    try {
      await removeArtifact(a, ctx);
    } catch (err) {
      left.push(`${describeArtifact(a)} (${(err as Error).message})`);
      log.warn({ err, snapshot: row.id, artifact: a }, "could not remove an artifact of an interrupted snapshot");
    }
  }
  return left;
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
