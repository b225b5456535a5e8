// Crash recovery of snapshot jobs: what a dead dashboard left in flight is reconciled — followed to its
// end when QEMU still streams it, completed when it completed there, otherwise failed with the reason —
// and what it had changed is put back — on the VM (crash-undo.ts: a guest it paused, the migration
// capabilities, the guest's filesystems it froze through the agent) and, for a failed one, on the host (the run's artifact ledger: its vmstate, the sink's
// status file, the internal disk snapshots it took, each removed only once proven unused:
// remove-artifacts.ts). Deletions a dead process left in `deleting` are resumed (deletion.ts). Run at
// start and every sweep by every worker process (worker.ts); safe to run anywhere at any time.
// Invariants: a job whose advisory lock job:<id> is held is alive (or followed) and never touched; a
// vmstate whose sink still reads QEMU's stream is never cut (QEMU.md §2); nothing outside a row's
// ledger is removed; a job is completed here only on proof (docs/reliability.md); only jobs of VMs this
// process owns or whose lease is free (lib/fleet/vm-lease.ts) are touched — a live owner's sweep does its own.
import { logIgnored } from "../best-effort";
import { timeout } from "../timeout";
import { lockKey, tryAdvisoryLock, type HeldLock } from "../db/advisory-locks";
import { db } from "../db/client";
import type { Prisma } from "../db/generated/client";
import { NotOwnerError } from "../fleet/errors";
import { QmpTimeoutError } from "../qmp";
import { freezesOnFailedBackgroundSnapshot, parseQemuVersion } from "../qmp/version";
import { getVmSession } from "../fleet/sessions";
import { holdVm } from "../fleet/vm-lease";
import { hostAccessFor } from "../fleet/host-access";
import { quiesceTimeoutMs } from "../config";
import type { Logger } from "../logger";
import { processSingleton } from "../process-singleton";
import { describeArtifact, parseArtifacts, type Artifact, type InternalSnapshotArtifact } from "./artifacts";
import { parseVmUndo, undoAfterCrash, type AgentAccess, type UndoOutcome, type VmUndo } from "./crash-undo";
import { finishJob, recordProgress } from "./execute-job";
import { markGuestLeftPaused, markVmFrozen, qemuVersionOf } from "./guest-attention";
import { findImageNode } from "./internal-snapshots";
import { transitionSnapshot } from "./jobs";
import { removeArtifact } from "./remove-artifacts";
import { migrationProgress, type SnapshotFile } from "./run-snapshot";
import { IN_FLIGHT_STATUSES, type SnapshotStatusName } from "./state-machine";
import { inspectSinkOn } from "./remote-sink";
import { describeSinkOutcome, type SinkInspection } from "./vmstate-sink";

/** Dead runs this process follows until their stream ends (each holds the run's job lock). */
const trackers = processSingleton("__snapfleetRecoveryTrackers", () => new Map<string, Promise<void>>());

export interface RecoveryOptions {
  /** How often a followed dead run is polled (query-migrate, the sink's status file). Default 1 s. */
  pollMs?: number;
}

/** Resolves once every dead run this process follows has been settled (tests, shutdown). */
export async function waitForRecoveryTrackers(): Promise<void> {
  while (trackers.size) await Promise.all([...trackers.values()]);
}

/**
 * Reconciles the in-flight jobs whose worker died (their job lock is free); returns how many it
 * settled now (followed runs settle later: waitForRecoveryTrackers). Safe in any process at any time.
 * First it puts back what the dead run had changed on the VM (crash-undo.ts: resumes a guest it had
 * paused once QEMU saved its state, puts the migration capabilities back, thaws the filesystems it froze)
 * as far as QEMU and the guest agent allow. A thaw the agent did not answer does not hold the job: it is
 * settled saying so, keeps `fsFrozen` on its row, and every later sweep sends the thaw again
 * (retryLeftThaws) until the agent answers.
 * Then, per job:
 *   - still running there (its vmstate sink still reads QEMU's stream: the sink outlives the dashboard
 *     and keeps writing, vmstate-sink.ts) → this process FOLLOWS it, holding its job lock: polls
 *     query-migrate and publishes progress (browsers see it move again), retries the undo (a QEMU ≥ 9
 *     guest the dead run paused is resumed as soon as its state is saved), and settles it when the
 *     stream ends;
 *   - completed there (QEMU's migration completed, the sink says the vmstate is complete and its file
 *     is there, every internal disk snapshot of the ledger is in its image) → completed here, with
 *     QEMU's figures; a disks-only run whose internal snapshots all exist likewise;
 *   - otherwise → failed with what happened, and the ledger's artifacts removed once provably unused
 *     (what cannot be removed stays in the ledger for the operator's delete). On a QEMU that freezes the
 *     guest when a background snapshot fails (QEMU < 8.1), a migration that ended failed/cancelled marks
 *     the VM "frozen — restart required" (guest-attention.ts).
 */
export async function recoverInterruptedSnapshots(log: Logger, opts: RecoveryOptions = {}): Promise<number> {
  const rows = await db().snapshot.findMany({
    where: { status: { in: [...IN_FLIGHT_STATUSES] } },
    include: { vm: { include: { host: true } } },
  });
  let recovered = 0;
  const settled = new Set<string>();
  for (const row of rows) {
    if (trackers.has(row.id)) continue; // followed by this process already
    const lock = await tryAdvisoryLock(lockKey("job", row.id));
    if (!lock) continue; // its worker (or a recovering process) is alive
    let handedOver = false;
    let unhold: (() => void) | undefined;
    try {
      try {
        unhold = await holdVm(row.vmId, { vmName: row.vm.name });
      } catch (err) {
        if (err instanceof NotOwnerError) continue; // a live process owns the VM: its sweep recovers the job
        throw err;
      }
      const current = await db().snapshot.findUnique({
        where: { id: row.id },
        select: { status: true, undoOnCrash: true },
      });
      if (!current || !IN_FLIGHT_STATUSES.includes(current.status)) continue;
      const undone = await undoDeadRun(row.id, row.vm.id, current.undoOnCrash, log);
      const ledger = parseArtifacts(row.artifacts);
      const vmstate = vmstateOf(ledger);
      // The writer's status file: this machine's local sink, or an SSH host's exec: writer (read over SFTP).
      const sink = vmstate ? await inspectSinkOn(hostAccessFor(row.vm.host), vmstate) : undefined;
      if (sink?.alive && vmstate) {
        log.warn(
          { snapshot: row.id, sinkPid: sink.status.pid, sinkState: sink.status.state },
          "snapshot interrupted by a restart is still streaming: following it until QEMU's stream ends",
        );
        handedOver = true;
        followDeadRun(row, vmstate, lock, log, opts, unhold);
        continue;
      }
      if (undone?.remaining && holdsJob(undone.remaining)) {
        log.warn(
          { snapshot: row.id, undoLeft: undone.remaining },
          "snapshot interrupted by a restart: QEMU is still migrating; what the run changed on the VM is put back by the next sweep",
        );
        continue;
      }
      await settleDeadRun(row, current.status, ledger, sink, undone, log);
      settled.add(row.id);
      recovered++;
    } catch (err) {
      log.error({ err, snapshot: row.id }, "recovering an interrupted snapshot failed; the next sweep retries");
    } finally {
      if (!handedOver) {
        unhold?.();
        await lock.release();
      }
    }
  }
  await retryLeftThaws(log, settled);
  return recovered;
}

/** What is left waits for QEMU (a migration still running): the job stays in flight for the next sweep. */
function holdsJob(left: VmUndo): boolean {
  return Boolean(left.guestStopped || left.capabilities);
}

/**
 * Settled jobs whose dead run may have left the guest's filesystems frozen and whose agent did not
 * answer the thaw then (their row keeps `fsFrozen`): the thaw is sent again, every sweep, until the
 * agent answers (or refuses). Never throws.
 */
async function retryLeftThaws(log: Logger, settledNow: ReadonlySet<string>): Promise<void> {
  try {
    const rows = await db().$queryRaw<Array<{ id: string; vmId: string; vmName: string; undoOnCrash: unknown }>>`
      SELECT s.id, s."vmId", v.name AS "vmName", s."undoOnCrash" FROM "Snapshot" s JOIN "Vm" v ON v.id = s."vmId"
      WHERE s."undoOnCrash" -> 'fsFrozen' IS NOT NULL AND NOT (s.status::text = ANY(${[...IN_FLIGHT_STATUSES]}))`;
    for (const row of rows) {
      if (settledNow.has(row.id)) continue; // its thaw was just tried: the next sweep
      const lock = await tryAdvisoryLock(lockKey("job", row.id));
      if (!lock) continue;
      let unhold: (() => void) | undefined;
      try {
        unhold = await holdVm(row.vmId, { vmName: row.vmName });
        const undone = await undoDeadRun(row.id, row.vmId, row.undoOnCrash, log);
        if (undone && !undone.remaining?.fsFrozen)
          log.warn(
            { snapshot: row.id, done: undone.done, failed: undone.failed },
            "a later sweep settled the thaw an interrupted snapshot had left",
          );
      } catch (err) {
        if (!(err instanceof NotOwnerError))
          log.error(
            { err, snapshot: row.id },
            "retrying the thaw of an interrupted snapshot failed; the next sweep retries",
          );
      } finally {
        unhold?.();
        await lock.release();
      }
    }
  } catch (err) {
    log.error({ err }, "looking for thaws left by interrupted snapshots failed; the next sweep retries");
  }
}

type DeadRow = Prisma.SnapshotGetPayload<{ include: { vm: { include: { host: true } } } }>;

function vmstateOf(ledger: Artifact[]): string | undefined {
  return ledger.flatMap((a) => (a.kind === "file" && a.what === "vmstate" ? [a.path] : []))[0];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Follows a dead run whose sink still reads QEMU's stream, holding its job lock: progress is recorded
 * and published, the undo retried; when the stream is over, the job is settled. Never throws.
 */
function followDeadRun(
  row: DeadRow,
  vmstate: string,
  lock: HeldLock,
  log: Logger,
  opts: RecoveryOptions,
  unhold?: () => void,
): void {
  const pollMs = opts.pollMs ?? 1000;
  const run = (async () => {
    try {
      let status = row.status;
      const startedAt = Date.now();
      for (;;) {
        const sink = await inspectSinkOn(hostAccessFor(row.vm.host), vmstate).catch((err: unknown) => {
          log.debug({ err, snapshot: row.id }, "the host of a followed snapshot cannot be read right now");
          return { alive: true } as const; // unknown is not dead: keep following
        });
        if (!sink?.alive) break;
        const qmp = await getVmSession(row.vmId).catch((err: unknown) => {
          log.debug({ err, snapshot: row.id }, "the VM of a followed snapshot is not reachable right now");
          return undefined;
        });
        const info = qmp
          ? await qmp.queryMigrate().catch((err: unknown) => void log.debug({ err }, "query-migrate failed"))
          : undefined;
        if (info?.status === "active") {
          if (status === "setup") {
            await transitionSnapshot(row.id, "active", {
              detail: "streaming RAM; followed by another dashboard process after the one that started it went away",
            });
            status = "active";
          }
          const ram = info.ram;
          if (ram && status === "active") {
            const elapsed = (Date.now() - startedAt) / 1000;
            const rate = ram.mbps ? (ram.mbps * 1e6) / 8 : elapsed > 0 ? ram.transferred / elapsed : 0;
            await recordProgress(row.id, migrationProgress(ram, rate), true);
          }
        }
        // A QEMU ≥ 9 guest the dead run paused is resumed as soon as QEMU saved its state (crash-undo.ts).
        const undo = await db().snapshot.findUnique({ where: { id: row.id }, select: { undoOnCrash: true } });
        if (undo && parseVmUndo(undo.undoOnCrash)) await undoDeadRun(row.id, row.vmId, undo.undoOnCrash, log);
        await sleep(pollMs);
      }
      const current = await db().snapshot.findUnique({
        where: { id: row.id },
        select: { status: true, undoOnCrash: true },
      });
      if (!current || !IN_FLIGHT_STATUSES.includes(current.status)) return; // force-failed meanwhile
      const undone = await undoDeadRun(row.id, row.vmId, current.undoOnCrash, log);
      await settleDeadRun(
        row,
        current.status,
        parseArtifacts(row.artifacts),
        await inspectSinkOn(hostAccessFor(row.vm.host), vmstate),
        undone,
        log,
      );
    } catch (err) {
      log.error({ err, snapshot: row.id }, "following an interrupted snapshot failed; the next sweep retries");
    } finally {
      trackers.delete(row.id);
      unhold?.();
      await lock.release();
    }
  })();
  trackers.set(row.id, run);
}

interface CompletedThere {
  metrics: Parameters<typeof finishJob>[1]["metrics"];
  files: SnapshotFile[];
  detail: string;
}

/**
 * Whether the dead run's snapshot is complete on the host: QEMU's migration completed, the sink wrote a
 * complete vmstate that is still there, and every internal disk snapshot of the ledger exists. A string
 * says why not.
 */
async function completedThere(
  row: DeadRow,
  status: SnapshotStatusName,
  ledger: Artifact[],
  sink: SinkInspection | undefined,
): Promise<CompletedThere | string> {
  if (status === "preflight") return "it had not touched the VM yet";
  const vmstate = vmstateOf(ledger);
  const disks = ledger.filter((a): a is InternalSnapshotArtifact => a.kind === "internal-snapshot");
  if (!vmstate && !disks.length) return "its ledger names nothing it created";
  // Decided without the VM first: its monitor may be the very thing a failed snapshot hung.
  if (vmstate && !sink?.status.result?.complete) return "its vmstate is not complete";
  const qmp = await getVmSession(row.vmId).catch(
    logIgnored("an unreachable VM: what needs it waits for a later sweep"),
  );
  if (!qmp) return "the VM could not be reached to check what QEMU finished";
  const files: SnapshotFile[] = [];
  const metrics: CompletedThere["metrics"] = {};
  let detail = "";
  if (vmstate) {
    const r = sink!.status.result!;
    const hostFiles = hostAccessFor(row.vm.host).files;
    const size = hostFiles
      ? await hostFiles.stat(vmstate).then(
          (s) => s?.size ?? -1,
          () => -1,
        )
      : -1;
    if (size !== r.bytesWritten) return "its vmstate file is not the one the sink finished";
    const info = await qmp.queryMigrate();
    if (info.status !== "completed") return `QEMU's migration is ${info.status ?? "not there"}, not completed`;
    // The stream the sink received is this migration's: a migration of another tool that completed later
    // would not match its size. QEMU 7.2's ram.transferred leaves the device state out (the sink gets
    // ~124 KiB more); QEMU 10's counts it once more than it sends (measured: transferred 124,922,514 B,
    // received 124,798,461 B). So the sizes must agree within max(1 MiB, 1 %).
    const slack = Math.max(1024 * 1024, (info.ram?.transferred ?? 0) / 100);
    if (info.ram && Math.abs(r.bytesReceived - info.ram.transferred) > slack) {
      return `QEMU's last completed migration is not the one the sink received (QEMU sent ${info.ram.transferred} bytes, the sink received ${r.bytesReceived})`;
    }
    const transferMs = (info["total-time"] ?? 0) - (info["setup-time"] ?? 0);
    Object.assign(metrics, {
      qemuDowntimeMs: info.downtime,
      setupMs: info["setup-time"],
      totalMs: info["total-time"],
      ramTotalBytes: info.ram?.total,
      ramTransferredBytes: info.ram?.transferred,
      throughputBytesPerSec: transferMs > 0 ? Math.round(r.bytesWritten / (transferMs / 1000)) : undefined,
      sizeBytes: r.bytesWritten,
    });
    files.push({ path: vmstate, role: "vmstate", sizeBytes: r.bytesWritten });
    detail = `QEMU completed the snapshot and its vmstate sink wrote all of it (${(r.bytesWritten / 1024 / 1024).toFixed(1)} MiB)`;
  }
  for (const d of disks) {
    const node = await findImageNode(qmp, d.image);
    if (!node?.image.snapshots?.some((s) => s.name === d.name))
      return `the internal snapshot ${d.name} is not in ${d.image}`;
    files.push({ path: d.image, role: "disk", format: "qcow2", internalSnapshot: d.name, sizeBytes: 0 });
  }
  if (disks.length)
    detail += `${detail ? "; " : ""}${disks.length} disk${disks.length > 1 ? "s" : ""} (internal snapshot${disks.length > 1 ? "s" : ""} ${disks[0]!.name}) in place`;
  return { metrics, files, detail };
}

/** Finalizes a dead run that is over: completed when it completed there, else failed (see recoverInterruptedSnapshots). */
async function settleDeadRun(
  row: DeadRow,
  status: SnapshotStatusName,
  ledger: Artifact[],
  sink: SinkInspection | undefined,
  undone: UndoOutcome | undefined,
  log: Logger,
): Promise<void> {
  const onVm = describeUndone(undone);
  const there = await completedThere(row, status, ledger, sink).catch(
    (err: unknown) => `checking it failed (${(err as Error).message})`,
  );
  if (typeof there !== "string") {
    const statusFile = ledger.find((a) => a.kind === "file" && a.what === "sink-status");
    const files = hostAccessFor(row.vm.host).files;
    if (statusFile?.kind === "file" && files)
      await files
        .unlink(statusFile.path)
        .catch((err: unknown) => log.warn({ err, path: statusFile.path }, "could not remove the sink's status file"));
    await finishJob(row.id, {
      status: "completed",
      detail: `${there.detail}, while the dashboard that started it was gone; finalized by recovery. ${onVm}`.trim(),
      metrics: there.metrics,
      files: there.files,
    });
    await keepLeftThaw(row.id, undone);
    log.warn({ snapshot: row.id }, "completed a snapshot whose dashboard died after QEMU had finished it");
    return;
  }
  const monitor = await markFrozenIfStreamFailed(row, sink, log);
  const left = await removeLedger(row, ledger, log, monitor !== "hung");
  const touched = status !== "preflight";
  const onHost = left.length
    ? `Kept for now (deleting this snapshot removes them once possible): ${left.join("; ")}.`
    : ledger.length
      ? "Everything the snapshot had created was removed."
      : "";
  const message = !touched
    ? `the dashboard restarted during the snapshot's preflight; the VM was not touched. ${onHost}`.trim()
    : sink
      ? `the dashboard restarted during the snapshot (it was ${status}); ${describeSinkOutcome(sink.status)}. ` +
        `It could not be finished as completed (${there}), so nothing was kept. ${onVm}${onHost}`
      : `the dashboard restarted during the snapshot (it was ${status}); it could not be finished as completed (${there}). ${onVm}${onHost}`;
  await finishJob(row.id, { status: "failed", error: { errorClass: "interrupted", message } });
  await keepLeftThaw(row.id, undone);
  log.warn(
    { snapshot: row.id, status, sink: sink?.status.state, why: there },
    "failed a snapshot interrupted by a restart",
  );
}

/** A thaw still to send outlives the settled job on its row (finishJob cleared it): retryLeftThaws sends it. */
async function keepLeftThaw(id: string, undone: UndoOutcome | undefined): Promise<void> {
  const fsFrozen = undone?.remaining?.fsFrozen;
  if (fsFrozen)
    await db().snapshot.update({
      where: { id },
      data: { undoOnCrash: { fsFrozen, done: undone.done } as Prisma.InputJsonValue },
    });
}

/** How long a monitor that may be hung by a failed background snapshot gets to answer (session + query-migrate). */
const HUNG_MONITOR_PROBE_MS = 10_000;

/**
 * On QEMU < 8.1: a dead run's RAM stream that QEMU ended failed/cancelled froze the guest (QEMU.md §2) —
 * and, when a device was writing guest RAM at that moment, QEMU's main loop with it, so its monitor stops
 * answering (even qmp_capabilities). Either way the VM is marked frozen, after one bounded probe;
 * "hung" tells the caller to spare it further commands. A VM that cannot be reached for another reason
 * (its socket gone) is left to a later sweep.
 */
async function markFrozenIfStreamFailed(
  row: DeadRow,
  sink: SinkInspection | undefined,
  log: Logger,
): Promise<"hung" | undefined> {
  const streamed = sink?.status.result?.connected || sink?.status.state === "streaming";
  if (!streamed) return;
  const known = parseQemuVersion(row.vm.qemuVersion);
  if (known && !freezesOnFailedBackgroundSnapshot(known)) return;
  const probe = (async () => {
    const qmp = await getVmSession(row.vmId);
    return { qmp, info: await qmp.queryMigrate({ timeoutMs: HUNG_MONITOR_PROBE_MS }) };
  })();
  const answered = await timeout(probe, HUNG_MONITOR_PROBE_MS).catch((err: unknown) =>
    err instanceof Error ? err : new Error(String(err)),
  );
  if (answered === "timeout" || answered instanceof QmpTimeoutError) {
    void probe.catch(logIgnored("the hung monitor's probe ended after the VM was marked"));
    if (!known) return; // no version to judge by: nothing is claimed
    await markVmFrozen(
      row.vmId,
      row.id,
      `QEMU's monitor stopped answering (no reply within ${HUNG_MONITOR_PROBE_MS / 1000} s) after the RAM snapshot's stream ` +
        "broke while the dashboard that started it was gone; on this QEMU version a failed background snapshot blocks the guest's vCPUs " +
        "and can hang QEMU itself (QEMU.md §2): restart the VM",
      log,
    );
    return "hung";
  }
  if (answered instanceof Error) {
    log.debug({ err: answered, vm: row.vmId }, "the VM could not be probed: a later sweep looks again");
    return;
  }
  const { qmp, info } = answered;
  if (!freezesOnFailedBackgroundSnapshot(qemuVersionOf(qmp.greeting))) return;
  if (info.status !== "failed" && info.status !== "cancelled") return;
  await markVmFrozen(
    row.vmId,
    row.id,
    `the RAM snapshot's migration ended ${info.status} (${info["error-desc"] ?? "no reason given"}) while the dashboard that started it was gone; ` +
      "on this QEMU version that leaves the guest's vCPUs blocked for good (QEMU.md §2): restart the VM",
    log,
  );
}

/** Removes a dead run's artifacts that are provably unused; returns what had to stay, in words. */
async function removeLedger(
  row: { id: string; vmId: string; vm: { host: Parameters<typeof hostAccessFor>[0] } },
  ledger: ReturnType<typeof parseArtifacts>,
  log: Logger,
  monitorAnswers = true,
): Promise<string[]> {
  // A hung monitor is not asked (each command would wait for its timeout): files are then proven unused by
  // the host's /proc alone — QEMU never opens the vmstate, and an image the hung QEMU holds stays.
  const qmp = monitorAnswers
    ? await getVmSession(row.vmId).catch(logIgnored("an unreachable VM: what needs it waits for a later sweep"))
    : undefined;
  const ctx = { qmp, files: hostAccessFor(row.vm.host).files, driftAcknowledged: false };
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
export async function undoDeadRun(
  snapshotId: string,
  vmId: string,
  recorded: unknown,
  log: Logger,
): Promise<UndoOutcome | undefined> {
  const undo = parseVmUndo(recorded);
  if (!undo) return undefined;
  let outcome: UndoOutcome;
  try {
    // The guest agent is reached as quiesce reaches it: through the VM's host (quiesce.ts).
    const agent = undo.fsFrozen ? await agentAccessOf(vmId) : undefined;
    outcome = await undoAfterCrash(await getVmSession(vmId), undo, agent);
  } catch (err) {
    // Unreachable VM: nothing can be put back from here; say so, and do not hold the job for it.
    const frozenNote = undo.fsFrozen
      ? `; the guest's filesystems may still be frozen: thaw them by hand through ${undo.fsFrozen.agentSocket} (docs/quiesce.md)`
      : "";
    outcome = {
      done: undo.done ?? [],
      failed: [
        `the VM could not be reached to put back what the snapshot had changed (${(err as Error).message})${frozenNote}`,
      ],
      remaining: null,
    };
  }
  if (outcome.done.length || outcome.failed.length)
    log.warn({ snapshot: snapshotId, ...outcome }, "put back what an interrupted snapshot had changed on the VM");
  const resumed = outcome.done.some((d) => d.includes("was resumed"));
  if (undo.guestStopped && !resumed && !outcome.remaining?.guestStopped && outcome.failed.length) {
    await markGuestLeftPaused(
      vmId,
      snapshotId,
      `the snapshot paused the guest and its dashboard died; resuming it failed: ${outcome.failed.join("; ")}`,
      log,
    );
  }
  // What is left — or, once nothing is, only what was done (for the job's message): nothing is redone.
  const keep = outcome.remaining ?? (outcome.done.length ? { done: outcome.done } : null);
  if (keep)
    await db().snapshot.update({ where: { id: snapshotId }, data: { undoOnCrash: keep as Prisma.InputJsonValue } });
  return outcome;
}

async function agentAccessOf(vmId: string): Promise<AgentAccess> {
  const vm = await db().vm.findUniqueOrThrow({ where: { id: vmId }, select: { host: true } });
  return { openSocket: hostAccessFor(vm.host).openSocket, timeoutMs: quiesceTimeoutMs() };
}

function describeUndone(o: UndoOutcome | undefined): string {
  if (!o) return "";
  const parts = [...o.done, ...o.failed];
  if (!parts.length) return "";
  return `On the VM: ${parts.join("; ")}. `;
}
