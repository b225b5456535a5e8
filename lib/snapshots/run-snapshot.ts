// The QEMU side of one snapshot, DB-free: given the VM's QMP session, take a live snapshot (RAM, device
// state and disks at one instant), a RAM-only or a disks-only one, and report what happened. The job
// layer (jobs.ts) persists the status changes and progress this module reports through its hooks; tests
// drive it directly against real QEMU.
//
// Sequence (QEMU.md §1, §4; verified on 7.2; why this shape: pause-plan.ts and docs/performance.md):
//   preflight (queries only) → the artifact ledger (artifacts.ts: directory, vmstate, one internal
//   snapshot per disk) is handed to the job layer BEFORE anything is created → setup:
//   migrate-set-capabilities background-snapshot+events, open the sink → ONE write of: [running] stop,
//   one `transaction` of blockdev-snapshot-internal-sync (each disk's state is kept inside its own qcow2
//   image: docs/disk-chains.md), [live/ram-only] migrate unix:<sink> — no file work, no round trip
//   inside the pause. Gated instead (pause-plan.ts: QEMU < 9, local host, ≥ 512 MiB resident guest RAM;
//   ram-walk-gate.ts): migrate first, to a writer that holds QEMU's stream until QEMU's RAM walk is
//   done, then stop + transaction, then the gate opens; if the gate does not hold QEMU, that stream (RAM
//   at QEMU's own instant) is discarded to its end and the snapshot taken the pipelined way.
//   QEMU ≤ 8.2 resumes the guest by itself once device state is saved (never `cont`
//   after migrate on 7.2); QEMU ≥ 9.0 keeps it paused, so we `cont` once RAM streams; [disks-only] cont
//   → active: poll query-migrate (2.5 Hz) and follow MIGRATION events until completed/failed → the sink
//   checks the file → on local hosts, guest RAM is merged back into 2 MiB pages (the snapshot split
//   them; it keeps the next snapshot's pause short) → completed.
// The VM keeps running on the very images its own configuration names: nothing is layered, renamed or
// re-opened, so a restart of the VM with its unchanged command line loses nothing.
// Where the vmstate goes: the host's snapshot directory, through the host-access seam — a local sink
// process on local hosts (`migrate unix:`), QEMU's own `exec:` writer on SSH hosts (remote-sink.ts: only
// QMP and SFTP cross the SSH connection, the stream never does); a TLS host gives no files, so only
// disks-only runs there (lib/fleet/host-capabilities.ts) and nothing but the internal snapshots is planned.
// Guest pause = QMP STOP→RESUME event timestamps (listeners registered before `stop`).
// Quiesce (asked per snapshot; quiesce.ts): the guest agent freezes the filesystems right before the
// pause write and thaws them as soon as it returns (sent before the `cont`, awaited after it), within a
// hard bound; it never fails the snapshot — the result says application- or crash-consistent and why.
// Failure and cancel (QEMU.md §2: a broken stream or migrate_cancel freezes a 7.2 guest for good):
//   - never migrate_cancel: cancel switches the sink to discard, QEMU finishes into the void;
//   - anything failing after `stop`: the guest is resumed, the internal snapshots taken are deleted
//     again, the capabilities put back, the files removed (only those the ledger names; directories
//     only when empty) — the VM is as it was before;
//   - QEMU gone mid-snapshot: its internal snapshots cannot be deleted now; they stay in the images,
//     named by the ledger, and deleting the failed snapshot removes them later (offline if need be).
// Crash safety: every change to the VM that a dead dashboard would leave behind (capabilities switched
// on, the guest stopped, its filesystems frozen) is reported through onUndoChange BEFORE it is made, and
// reported again once put back (crash-undo.ts; a restarted dashboard undoes what is left); every file or
// disk snapshot the run may create is in the ledger before it exists (onPlan).
// Invariants: never throws (returns failed with an error class and an operator-readable message); the
// sink is never cut while QEMU may still write to it; a paused VM is left paused; nothing outside the
// ledger is ever removed.
import { timeout } from "../timeout";
import path from "node:path";
import type { HostFiles } from "../fleet/host-files";
import type { Logger } from "../logger";
import type { QmpClient, QmpEvent } from "../qmp";
import type { MigrationCapabilityStatus, MigrationInfo, MigrationStatus } from "../qmp/types";
import type { SnapshotModeName } from "../validations/snapshot";
import { planArtifacts, internalSnapshotName, type Artifact } from "./artifacts";
import { recollapseGuestMemory } from "./host-memory";
import { freezesOnFailedBackgroundSnapshot } from "../qmp/version";
import { planConsistentPause, qemuResumesByItself } from "./pause-plan";
import {
  detectPauseFacts,
  layerAndStream,
  RESUME_AFTER_STREAM_BYTES,
  resumeWhenStreaming,
  type LayerAndStreamResult,
  type PauseDisk,
} from "./pause-steps";
import { prepareRamWalkGate, waitForQemuAtGate } from "./ram-walk-gate";
import type { VmUndo } from "./crash-undo";
import { diskWriteRoomBytes, preflightSnapshot, type PreflightInput, type PreflightReport } from "./preflight";
import { classify, describe, SnapshotFailure, type SnapshotErrorClass } from "./run-errors";
import { rollBackRun } from "./rollback";
import {
  freezeGuest,
  quiesceSkipReason,
  type GuestFreeze,
  type QuiesceOutcome,
  type QuiesceRequest,
  type SnapshotConsistencyName,
} from "./quiesce";
import { RemoteExecSink } from "./remote-sink";
import { sinkStatusPathOf, VmstateSink, type VmstateSinkResult } from "./vmstate-sink";

export interface SnapshotFile {
  path: string;
  role: "vmstate" | "disk";
  node?: string;
  format?: string;
  /** For a disk: the internal snapshot inside `path` that holds its state at the snapshot instant. */
  internalSnapshot?: string;
  sizeBytes: number;
}

export interface SnapshotMetrics {
  guestPauseMs?: number;
  qemuDowntimeMs?: number;
  setupMs?: number;
  totalMs?: number;
  ramTotalBytes?: number;
  ramTransferredBytes?: number;
  throughputBytesPerSec?: number;
  sizeBytes?: number;
}

export interface SnapshotProgress {
  /** 0..1 of the RAM stream. */
  progress: number;
  ramTotalBytes: number;
  ramTransferredBytes: number;
  ramRemainingBytes: number;
  throughputBytesPerSec: number;
  etaMs: number | null;
}

export interface SnapshotRunResult {
  status: "completed" | "failed" | "cancelled";
  error?: { errorClass: SnapshotErrorClass; message: string };
  /** One line for the status history (what happened, in words). */
  detail: string;
  targetDir: string;
  metrics: SnapshotMetrics;
  files: SnapshotFile[];
  /**
   * The guest Snapfleet paused could not be resumed (why): the job layer marks the VM for an operator
   * (guest-attention.ts).
   */
  guestLeftPaused?: string;
  /** QEMU ended the background snapshot failed/cancelled on a version where that freezes the guest (why). */
  guestFrozen?: string;
  /** Completed with disks: whether their state is application-consistent (frozen by the guest agent). */
  consistency?: SnapshotConsistencyName;
  /** When quiesce was asked: what the freeze did, or why the snapshot is crash-consistent. */
  quiesceNote?: string;
}

export interface RunSnapshotHooks {
  /**
   * Everything the run may create (artifacts.ts), called once, awaited, before any of it exists. A
   * throw fails the snapshot before the VM or the host is touched.
   */
  onPlan(artifacts: Artifact[]): Promise<void>;
  /** Awaited before the run goes on: persist, publish. A throw here fails the snapshot. */
  onStatus(status: "preflight" | "setup" | "active", detail?: string): Promise<void>;
  onProgress?(progress: SnapshotProgress): void | Promise<void>;
  /**
   * What a crash of this process would leave changed on the VM (crash-undo.ts), or null. Called before
   * each change is made (awaited) and after it is put back; calls never overlap and keep their order.
   * A throw is logged, not fatal: the snapshot goes on without that safety net.
   */
  onUndoChange?(undo: VmUndo | null): Promise<void>;
}

export interface RunSnapshotInput extends Omit<PreflightInput, "qmp" | "mode" | "hostFiles"> {
  qmp: QmpClient;
  /** The host's files (local fs, SFTP); null when the host gives none (TLS: disks-only, nothing to write). */
  hostFiles: HostFiles | null;
  /**
   * How the vmstate reaches the host's snapshot directory: a local sink process (vmstate-sink.ts), or
   * the writer QEMU runs on the hypervisor itself (`exec:`, remote-sink.ts; SSH hosts). Default local.
   */
  vmstateWriter?: "local-sink" | "remote-exec";
  snapshotId: string;
  mode: SnapshotModeName;
  /** Directory name of the VM under snapshotRoot; files go to <snapshotRoot>/<vmDirName>/<snapshotId>/. */
  vmDirName: string;
  /** Aborting it cancels the snapshot (safely: see header). */
  signal?: AbortSignal;
  hooks: RunSnapshotHooks;
  pollIntervalMs?: number;
  /** Private directory for the sink's socket (default: one per process). */
  sinkDir?: string;
  log?: Logger;
  now?: () => number;
  /** Freeze the guest's filesystems through its agent around the pause (quiesce.ts); absent: not asked. */
  quiesce?: QuiesceRequest;
  /**
   * The RAM-walk gate (ram-walk-gate.ts): "auto" (default) as pause-plan.ts decides; "always" wherever it
   * can run whatever the RAM size, "never" for the plain pipelined pause (tests and benchmarks compare them).
   */
  ramWalkGate?: "auto" | "always" | "never";
}

const TERMINAL: ReadonlySet<MigrationStatus | undefined> = new Set(["completed", "failed", "cancelled"]);
const SINK_CLOSE_TIMEOUT_MS = 60_000;
/** The gate's writer (perl) reports within milliseconds; past this it is broken. */
const GATE_WRITER_START_MS = 10_000;
/** How long QEMU's RAM walk may take before the gate is given up: ≈ 5–8 ms/GiB measured, 40 ms/GiB on 4 KiB mappings under load. */
const GATE_WALK_BUDGET = { fixedMs: 5_000, msPerGiB: 500 };
const MiB = 1024 * 1024;

/** A RAM stream's progress from query-migrate's `ram` figures and a measured rate (bytes/s). */
export function migrationProgress(
  ram: { total: number; transferred: number; remaining: number },
  bytesPerSec: number,
): SnapshotProgress {
  return {
    progress: ram.total > 0 ? Math.min(1, Math.max(0, 1 - ram.remaining / ram.total)) : 0,
    ramTotalBytes: ram.total,
    ramTransferredBytes: ram.transferred,
    ramRemainingBytes: ram.remaining,
    throughputBytesPerSec: Math.round(bytesPerSec),
    etaMs: bytesPerSec > 0 ? Math.round((ram.remaining / bytesPerSec) * 1000) : null,
  };
}

export function runSnapshot(input: RunSnapshotInput): Promise<SnapshotRunResult> {
  return new SnapshotRun(input).execute();
}

function mib(bytes: number): string {
  return `${(bytes / MiB).toFixed(1)} MiB`;
}

class SnapshotRun {
  private readonly qmp: QmpClient;
  private readonly now: () => number;
  private readonly targetDir: string;
  private readonly events: QmpEvent[] = [];
  /** Dashboard-side steps of the pause (wall clock, µs like QMP event timestamps), for the pause timeline log. */
  private readonly marks: Array<{ step: string; timeUs: number }> = [];
  private report: PreflightReport | undefined;
  private sink: VmstateSink | RemoteExecSink | undefined;
  private sinkResult: VmstateSinkResult | undefined;
  /** Disks whose internal snapshot the transaction took (or may have: see take()). */
  private taken: Array<{ device: string; image: string }> = [];
  private ledger: Artifact[] = [];
  private capabilitiesChanged = false;
  private stoppedByUs = false;
  /** What onUndoChange was last told, and the chain of those calls (kept in order). */
  private undo: Omit<VmUndo, "done"> = {};
  private undoReported: Promise<void> = Promise.resolve();
  private discarding = false;
  private restop: Promise<void> | undefined;
  private setupStartedAt = 0;
  private lastInfo: MigrationInfo = {};
  private offEvents: () => void = () => {};
  private wake: () => void = () => {};
  private wasPaused = false;
  private withRam: boolean;
  /** What merging guest RAM back into 2 MiB pages did, for the status detail. */
  private memoryNote: string | undefined;
  /** The VM's pause facts (pause-steps.ts), read once per run: the gate decision and the collapse use them. */
  private facts: ReturnType<typeof detectPauseFacts> | undefined;
  private guestLeftPaused: string | undefined;
  private guestFrozen: string | undefined;
  /** What the RAM-walk gate did, when it was tried: held QEMU, or why not (the detail says it). */
  private gateNote: string | undefined;
  /** The quiesce outcome, settling once the thaw is answered (or why nothing was frozen). */
  private quiesced: Promise<QuiesceOutcome> | undefined;

  constructor(private readonly input: RunSnapshotInput) {
    this.qmp = input.qmp;
    this.now = input.now ?? (() => performance.now());
    this.targetDir = path.join(input.snapshotRoot, input.vmDirName, input.snapshotId);
    this.withRam = input.mode !== "disks-only";
  }

  private get log() {
    return this.input.log;
  }

  private get cancelRequested(): boolean {
    return this.input.signal?.aborted ?? false;
  }

  async execute(): Promise<SnapshotRunResult> {
    try {
      await this.input.hooks.onStatus("preflight");
      this.report = await preflightSnapshot({ ...this.input, qmp: this.qmp, mode: this.input.mode });
      this.wasPaused = this.report.runState === "paused";
      if (this.cancelRequested) return this.result("cancelled", "cancelled before the VM was touched");
      const disks = this.report.disks.length;
      await this.input.hooks.onStatus(
        "setup",
        [
          disks && this.input.mode !== "ram-only"
            ? `pausing the guest and layering ${disks} disk${disks > 1 ? "s" : ""}`
            : undefined,
          this.withRam ? "starting the RAM stream" : undefined,
        ]
          .filter(Boolean)
          .join(", "),
      );
      return await this.take();
    } catch (err) {
      return this.fail(classify(err));
    } finally {
      this.offEvents();
      this.logPauseTimeline();
      await this.quiesced; // a thaw is never left behind, whatever failed
      await this.undoReported; // the job layer's record is final before the result is
    }
  }

  private async take(): Promise<SnapshotRunResult> {
    const { qmp } = this;
    const report = this.report!;
    this.setupStartedAt = this.now();
    const layered = this.input.mode !== "ram-only" && report.disks.length > 0;
    const disks = layered ? report.disks : [];
    const vmstateFile = path.join(this.targetDir, "vmstate.bin");
    const files = this.input.hostFiles;
    this.ledger = planArtifacts({
      targetDir: this.targetDir,
      vmstate: this.withRam ? { file: vmstateFile, status: sinkStatusPathOf(vmstateFile) } : undefined,
      disks: disks.map((d) => ({ device: d.device, image: d.file })),
      snapshotId: this.input.snapshotId,
    }).filter((a) => files || a.kind === "internal-snapshot"); // no file access (TLS): nothing but the disks' state
    await this.input.hooks.onPlan(this.ledger);
    if (files) await files.mkdirp(this.targetDir);
    if (this.withRam) {
      if (!files)
        throw new SnapshotFailure(
          "incompatible",
          "this host gives no access to its files, so there is nowhere to write the vmstate",
        );
      await this.enableCapabilities(report.capabilities);
      this.sink = await this.openSink();
    }
    // Listen before `stop`: STOP/RESUME timestamps are the guest pause (QEMU.md §1, §8).
    this.offEvents = qmp.on(["STOP", "RESUME", "MIGRATION"], (ev) => this.onEvent(ev));

    const name = internalSnapshotName(this.input.snapshotId);
    const stop = layered && report.runState === "running";
    const pauseDisks = disks.map((d) => ({ node: d.node, name }));
    // Gated (pause-plan.ts): QEMU walks guest RAM while the guest runs; the pause starts after the walk.
    const gatePid = stop && this.withRam ? await this.gateFor() : undefined;
    let r: LayerAndStreamResult | "lost" | undefined =
      gatePid === undefined ? undefined : await this.pauseBehindGate(pauseDisks, gatePid);
    if (r === "lost") await this.discardUngatedStream();
    if (r === undefined || r === "lost") {
      // The pause: stop, transaction and migrate in one write (pause-steps.ts).
      if (stop) await this.reportUndo({ guestStopped: true });
      this.mark("stop sent");
      r = await this.frozenAround(disks.length, () =>
        layerAndStream(qmp, { disks: pauseDisks, uri: this.withRam ? this.sink!.uri : undefined, stop }),
      );
      this.mark("replies in");
    }
    // Gated, QEMU may have resumed the guest already (the gate opened before this line runs).
    this.stoppedByUs = r.stopped && !this.resumedSinceStop();
    if (!r.stopped && stop) void this.reportUndo({ guestStopped: false });
    // A transaction that was not refused may have been applied (its reply can be lost with the monitor):
    // cleanup deletes whichever of these snapshots exist.
    if (layered && !r.transactionError) this.taken = disks.map((d) => ({ device: d.device, image: d.file }));
    if (r.stopError) {
      throw new SnapshotFailure("qmp-error", `QEMU refused to pause the guest: ${describe(r.stopError)}`, {
        cause: r.stopError,
      });
    }
    if (r.transactionError) {
      // Nothing was taken. A `migrate` that went through is a background snapshot QEMU must be allowed
      // to finish (QEMU.md §2): it streams into the discarding sink before anything is cleaned up.
      if (this.withRam && !r.migrateError) await this.drainUnwantedStream("the disk step of the snapshot failed");
      throw new SnapshotFailure(
        "disk-snapshot",
        `taking the disks' internal snapshots failed: ${describe(r.transactionError)}`,
        { cause: r.transactionError },
      );
    }

    if (!this.withRam) {
      if (this.stoppedByUs) {
        await qmp.cont();
        this.stoppedByUs = false;
      }
      const totalMs = this.now() - this.setupStartedAt;
      return this.complete({ setupMs: totalMs, totalMs });
    }

    if (r.migrateError) {
      throw new SnapshotFailure(
        "migration-failed",
        `QEMU refused to start the RAM snapshot: ${describe(r.migrateError)}`,
        { cause: r.migrateError },
      );
    }
    // QEMU ≥ 9.0 restores the state it found (paused, by us) instead of starting the guest.
    if (this.stoppedByUs && !qemuResumesByItself(report.qemuVersion) && (await resumeWhenStreaming(qmp)))
      this.stoppedByUs = false;
    const { info, started } = await this.follow();
    if (!started) {
      throw new SnapshotFailure(
        "migration-failed",
        `QEMU could not start the RAM snapshot: ${info["error-desc"] ?? `status ${info.status}`}`,
      );
    }
    return this.finishRam(info);
  }

  /** The vmstate writer for this host (see the header), on the ledger's vmstate file. */
  private openSink(): Promise<VmstateSink | RemoteExecSink> {
    const filePath = path.join(this.targetDir, "vmstate.bin");
    // The disks' copy-on-write after the snapshot needs room too: a full file system would stop the guest (io-error).
    const keepFreeBytes = diskWriteRoomBytes(this.report!.memoryBytes);
    return this.input.vmstateWriter === "remote-exec"
      ? RemoteExecSink.open({ files: this.input.hostFiles!, filePath, keepFreeBytes })
      : VmstateSink.open({ filePath, socketDir: this.input.sinkDir, name: this.input.snapshotId, keepFreeBytes });
  }

  /**
   * The guest agent's freeze when the snapshot asked for it and quiesce.ts allows it; otherwise the
   * reason is kept for the result. Never throws.
   */
  private async freezeIfAsked(disks: number): Promise<GuestFreeze | undefined> {
    const request = this.input.quiesce;
    if (!request) return undefined;
    const skip = quiesceSkipReason({ mode: this.input.mode, runState: this.report!.runState, disks });
    if (skip) {
      this.quiesced = Promise.resolve({ consistency: "crash", note: skip });
      return undefined;
    }
    // Recorded before the freeze is written: a dashboard dying before the thaw leaves it to recovery.
    return freezeGuest({
      qmp: this.qmp,
      request,
      log: this.log,
      now: this.now,
      beforeFreeze: (agentSocket) => this.reportUndo({ fsFrozen: { agentSocket } }),
    });
  }

  /**
   * Runs the pause with the guest's filesystems frozen around it when quiesce was asked and applies
   * (quiesce.ts): frozen as late as possible, the thaw written as soon as the pause write returns —
   * before any `cont` — and its answer awaited at the end of the run.
   */
  private async frozenAround(disks: number, pause: () => Promise<LayerAndStreamResult>): Promise<LayerAndStreamResult> {
    const freeze = await this.freezeIfAsked(disks);
    let r: LayerAndStreamResult | undefined;
    try {
      r = await pause();
      return r;
    } finally {
      if (freeze) {
        this.quiesced = freeze.thaw(Boolean(r && !r.transactionError)).then(async (outcome) => {
          // Thawed, or never frozen: nothing left for recovery to thaw (an unconfirmed thaw stays recorded).
          if (!outcome.mayBeFrozen && this.undo.fsFrozen) await this.reportUndo({ fsFrozen: undefined });
          return outcome;
        });
      }
    }
  }

  /**
   * QEMU's pid when this snapshot is to be gated (pause-plan.ts decides: QEMU < 9, a local host whose
   * QEMU threads this process can watch, enough resident guest RAM — or always/never when the input says).
   */
  private async gateFor(): Promise<number | undefined> {
    const wanted = this.input.ramWalkGate ?? "auto";
    if (wanted === "never" || !(this.sink instanceof VmstateSink)) return undefined;
    const facts = await this.pauseFacts();
    if (facts.pid === undefined || !facts.canGate || facts.qemuVersion.major >= 9) return undefined;
    return wanted === "always" || planConsistentPause(facts).sequence === "gated" ? facts.pid : undefined;
  }

  /**
   * The gated pause (ram-walk-gate.ts): `migrate` with the guest running; once QEMU's migration thread
   * waits at the gate (its RAM walk done), stop + the disks' internal snapshots; then the gate opens and
   * QEMU saves the device state and resumes the guest. "lost" when QEMU was not held — the writer started
   * after QEMU's first write, or the walk outlasted GATE_WALK_BUDGET — : the guest was never stopped by
   * us, and QEMU's stream (RAM at its own instant, no disks) must be discarded.
   */
  private async pauseBehindGate(disks: PauseDisk[], pid: number): Promise<LayerAndStreamResult | "lost"> {
    const sink = this.sink as VmstateSink;
    const gate = await prepareRamWalkGate({
      socketDir: path.dirname(sink.uri.slice("unix:".length)),
      name: this.input.snapshotId,
      sinkUri: sink.uri,
    });
    try {
      try {
        await this.qmp.migrate(gate.uri);
      } catch (err) {
        return { stopped: false, migrateError: err };
      }
      const state = await gate.state(GATE_WRITER_START_MS);
      const budgetMs = GATE_WALK_BUDGET.fixedMs + (this.report!.memoryBytes / 1024 ** 3) * GATE_WALK_BUDGET.msPerGiB;
      if (state !== "gated" || !(await waitForQemuAtGate(pid, budgetMs, this.now))) {
        this.gateNote =
          state === "gated"
            ? `QEMU's RAM walk outlasted ${Math.round(budgetMs)} ms`
            : state === "open"
              ? "QEMU's RAM walk ended before the gate closed"
              : "the gate's writer did not start";
        this.log?.info(
          { state, budgetMs },
          "the RAM-walk gate did not hold QEMU: taking the snapshot the pipelined way",
        );
        return "lost";
      }
      this.mark("at gate");
      await this.reportUndo({ guestStopped: true });
      this.gateNote = "QEMU's RAM walk ran before the pause (gated)";
      this.mark("stop sent");
      const r = await this.frozenAround(disks.length, () => layerAndStream(this.qmp, { disks, stop: true }));
      this.mark("disks taken");
      return r;
    } finally {
      await gate.dispose(); // opens the gate: QEMU goes on, with the guest stopped by us or not at all
      this.mark("gate opened");
    }
  }

  /**
   * After a lost gate: QEMU's stream is a RAM-only snapshot of its own instant. Discarded to its end (a
   * 7.2 background snapshot must never be cancelled), then a fresh sink takes the real one.
   */
  private async discardUngatedStream(): Promise<void> {
    await this.drainUnwantedStream(`the gate did not hold QEMU (${this.gateNote})`);
    const info = await this.qmp.queryMigrate();
    if (info.status !== "completed") {
      if (freezesOnFailedBackgroundSnapshot(this.report!.qemuVersion)) {
        this.guestFrozen = `the discarded RAM stream ended ${info.status} (${info["error-desc"] ?? "no reason given"}); on QEMU ${this.report!.qemuVersion.major}.${this.report!.qemuVersion.minor} that leaves the guest's vCPUs blocked for good (QEMU.md §2): restart the VM`;
      }
      throw new SnapshotFailure(
        "migration-failed",
        `QEMU's RAM stream ended ${info.status} before the snapshot was taken: ${info["error-desc"] ?? "no reason given"}`,
      );
    }
    this.gateNote = `${this.gateNote}: taken again the pipelined way (a second RAM stream)`;
    this.events.length = 0; // the discarded stream's pause is not this snapshot's
    this.discarding = false;
    this.sinkResult = undefined;
    this.sink = await this.openSink();
  }

  /**
   * A RAM stream that must not be kept (its disk step failed): discarded, and waited for to its end —
   * resuming the guest once RAM streams on QEMU ≥ 9, which keeps a guest we stopped paused.
   */
  private async drainUnwantedStream(reason: string): Promise<void> {
    this.discarding = true;
    await this.sink!.switchToDiscard(reason);
    if (this.stoppedByUs && !qemuResumesByItself(this.report!.qemuVersion) && (await resumeWhenStreaming(this.qmp)))
      this.stoppedByUs = false;
    for (;;) {
      const info = await this.qmp.queryMigrate();
      if (TERMINAL.has(info.status) || info.status === undefined) break;
      await new Promise((r) => setTimeout(r, this.input.pollIntervalMs ?? 400));
    }
    const done = await timeout(this.sink!.finished, SINK_CLOSE_TIMEOUT_MS);
    if (done !== "timeout") this.sinkResult = done;
  }

  /** The facts that do not change during a snapshot (QEMU's pid, memory kind, host): detected on first use. */
  private pauseFacts(): ReturnType<typeof detectPauseFacts> {
    return (this.facts ??= detectPauseFacts(this.qmp, this.input.hostKind));
  }

  /**
   * Local hosts: merges guest RAM back into 2 MiB pages now that QEMU is done with it, so the next
   * snapshot pauses like this one did (host-memory.ts). Never fails the snapshot.
   */
  private async prepareMemoryForNext(): Promise<void> {
    const facts = await this.pauseFacts();
    if (!facts.canCollapse || facts.pid === undefined) return;
    const c = await recollapseGuestMemory(facts.pid);
    if (c.ok) this.memoryNote = `RAM merged back into 2 MiB pages in ${(c.ms / 1000).toFixed(1)} s`;
    else
      this.log?.warn(
        { reason: c.reason },
        "guest RAM was not merged back into 2 MiB pages; the next snapshot will pause longer",
      );
  }

  private async enableCapabilities(found: MigrationCapabilityStatus[]): Promise<void> {
    const wanted = ["background-snapshot", "events"];
    if (wanted.every((c) => found.find((f) => f.capability === c)?.state)) return;
    await this.reportUndo({ capabilities: this.capabilitiesBefore() });
    try {
      await this.qmp.migrateSetCapabilities(wanted.map((capability) => ({ capability, state: true })));
      this.capabilitiesChanged = true;
    } catch (err) {
      throw new SnapshotFailure(
        "incompatible",
        `a live RAM snapshot is impossible for this VM: QEMU says "${describe(err)}". Take a disks-only snapshot instead`,
        { cause: err },
      );
    }
  }

  /** background-snapshot and events as preflight found them. */
  private capabilitiesBefore(): MigrationCapabilityStatus[] {
    const before = this.report!.capabilities;
    return ["background-snapshot", "events"].map((capability) => ({
      capability,
      state: before.find((c) => c.capability === capability)?.state ?? false,
    }));
  }

  /** Puts background-snapshot/events back as preflight found them, so other tools' migrations are unaffected. */
  private async restoreCapabilities(): Promise<void> {
    if (!this.capabilitiesChanged || !this.qmp.connected) return;
    try {
      await this.qmp.migrateSetCapabilities(this.capabilitiesBefore());
      this.capabilitiesChanged = false;
      void this.reportUndo({ capabilities: undefined });
    } catch (err) {
      this.log?.warn({ err }, "could not put the migration capabilities back");
    }
  }

  /** Updates what a crash would leave behind and tells the job layer (see RunSnapshotHooks.onUndoChange). */
  private reportUndo(change: Omit<VmUndo, "done">): Promise<void> {
    this.undo = { ...this.undo, ...change };
    const hook = this.input.hooks.onUndoChange;
    if (!hook) return Promise.resolve();
    const { capabilities, guestStopped, fsFrozen } = this.undo;
    const undo: VmUndo | null =
      capabilities || guestStopped || fsFrozen
        ? {
            ...(capabilities ? { capabilities } : {}),
            ...(guestStopped ? { guestStopped } : {}),
            ...(fsFrozen ? { fsFrozen } : {}),
          }
        : null;
    this.undoReported = this.undoReported
      .then(() => hook(undo))
      .catch((err: unknown) => this.log?.warn({ err }, "could not record what a crash would leave to undo on the VM"));
    return this.undoReported;
  }

  /** A RESUME event came after the last STOP event. */
  private resumedSinceStop(): boolean {
    const lastStop = this.events.findLastIndex((e) => e.event === "STOP");
    return lastStop >= 0 && this.events.slice(lastStop).some((e) => e.event === "RESUME");
  }

  private onEvent(ev: QmpEvent): void {
    this.events.push(ev);
    if (ev.event === "MIGRATION") this.wake();
    if (ev.event === "RESUME") {
      this.stoppedByUs = false; // QEMU (or our cont) resumed it after the device state was saved
      if (this.undo.guestStopped) void this.reportUndo({ guestStopped: false });
    }
    // 7.2 resumes the guest at the end of setup whatever its state was (QEMU.md §4): a VM that was
    // paused before the snapshot is paused again at once.
    if (ev.event === "RESUME" && this.wasPaused && this.withRam && !this.restop) {
      this.restop = this.qmp
        .stop()
        .catch((err) => this.log?.warn({ err }, "could not re-pause the VM after the snapshot"));
    }
  }

  /**
   * Polls query-migrate until a terminal status, reporting progress; handles cancel by discarding.
   * `started` is false when QEMU failed before streaming (it never connected, or failed in setup).
   */
  private async follow(): Promise<{ info: MigrationInfo; started: boolean }> {
    const interval = this.input.pollIntervalMs ?? 400;
    let activeAt: number | undefined;
    for (;;) {
      if (this.cancelRequested && !this.discarding) {
        this.discarding = true;
        await this.sink!.switchToDiscard("cancelled by the operator");
        this.log?.info("cancel: vmstate switched to discard; waiting for QEMU to finish");
      }
      const woke = new Promise<void>((r) => (this.wake = r));
      const info = await this.qmp.queryMigrate();
      this.lastInfo = info;
      const sawActive =
        info.status === "active" || this.events.some((e) => (e.data as { status?: string }).status === "active");
      if (activeAt === undefined && (sawActive || TERMINAL.has(info.status))) {
        if (TERMINAL.has(info.status) && !sawActive) return { info, started: false };
        activeAt = this.now();
        await this.input.hooks.onStatus("active", this.describeActive());
      }
      if (TERMINAL.has(info.status)) return { info, started: true };
      // QEMU ≥ 9 keeps a guest we stopped paused: resume it as soon as RAM streams, whenever that is.
      if (this.stoppedByUs && info.status === "active" && (info.ram?.transferred ?? 0) >= RESUME_AFTER_STREAM_BYTES)
        await this.resumeIfOurs();
      if (activeAt !== undefined && info.ram) await this.progress(info, activeAt);
      await Promise.race([woke, new Promise((r) => setTimeout(r, interval))]);
    }
  }

  private describeActive(): string {
    const pause = this.guestPauseMs();
    return pause === undefined
      ? "streaming RAM; the guest is running"
      : `streaming RAM; the guest ran again after ${pause.toFixed(0)} ms`;
  }

  private async progress(info: MigrationInfo, activeAt: number): Promise<void> {
    const ram = info.ram!;
    const elapsed = (this.now() - activeAt) / 1000;
    await this.input.hooks.onProgress?.(migrationProgress(ram, elapsed > 0 ? ram.transferred / elapsed : 0));
  }

  private mark(step: string): void {
    this.marks.push({ step, timeUs: Math.round((performance.timeOrigin + performance.now()) * 1000) });
  }

  /**
   * One log line per paused snapshot: QEMU's STOP / MIGRATION / RESUME events and this process's steps,
   * in ms after the STOP, so a long pause says which step it was spent in (docs/performance.md).
   */
  private logPauseTimeline(): void {
    const stop = this.events.find((e) => e.event === "STOP");
    if (!stop || !this.log) return;
    const steps = [
      ...this.events.map((e) => ({
        step: e.event === "MIGRATION" ? `migration ${(e.data as { status?: string }).status}` : e.event,
        timeUs: e.timeUs,
      })),
      ...this.marks,
    ].sort((a, b) => a.timeUs - b.timeUs);
    const timeline = steps.map((s) => `${s.step} ${((s.timeUs - stop.timeUs) / 1000).toFixed(1)}`).join(", ");
    this.log.info({ pauseMs: this.guestPauseMs(), timeline }, "pause timeline (ms after STOP)");
  }

  private guestPauseMs(): number | undefined {
    const stop = this.events.find((e) => e.event === "STOP");
    if (!stop || this.wasPaused) return undefined;
    const resume = this.events.find((e) => e.event === "RESUME" && e.timeUs >= stop.timeUs);
    return resume ? (resume.timeUs - stop.timeUs) / 1000 : undefined;
  }

  private async finishRam(info: MigrationInfo): Promise<SnapshotRunResult> {
    const sink = this.sink!;
    const waited = await timeout(sink.finished, SINK_CLOSE_TIMEOUT_MS);
    if (waited === "timeout")
      throw new SnapshotFailure(
        "target-truncated",
        "QEMU reported the end of the snapshot but never closed its stream",
      );
    this.sinkResult = waited;
    if (this.discarding) {
      await this.cleanup();
      return this.result(
        "cancelled",
        "cancelled: QEMU finished into the discard sink; the files were removed and the disks merged back",
      );
    }
    if (info.status !== "completed") {
      if (freezesOnFailedBackgroundSnapshot(this.report?.qemuVersion)) {
        this.guestFrozen = `the RAM snapshot ended ${info.status} (${info["error-desc"] ?? "no reason given"}); on QEMU ${this.report!.qemuVersion.major}.${this.report!.qemuVersion.minor} that leaves the guest's vCPUs blocked for good (QEMU.md §2): restart the VM`;
      }
      throw new SnapshotFailure(
        waited.writeError ? "target-write" : "migration-failed",
        waited.writeError
          ? this.writeErrorMessage(waited)
          : `QEMU reported the snapshot ${info.status}: ${info["error-desc"] ?? "no reason given"}. On QEMU 7.2 a failed background snapshot can leave the guest frozen: check that it still responds`,
      );
    }
    if (waited.writeError) throw new SnapshotFailure("target-write", this.writeErrorMessage(waited));
    if (!waited.complete)
      throw new SnapshotFailure(
        "target-truncated",
        `the vmstate is incomplete: ${waited.invalidReason ?? "unknown reason"}`,
      );

    // Streaming time from QEMU's own event timestamps (active → completed); query-migrate's
    // total-time − setup-time when an event is missing.
    const at = (status: string) =>
      this.events.find((e) => e.event === "MIGRATION" && (e.data as { status?: string }).status === status);
    const active = at("active");
    const completed = at("completed");
    const transferMs =
      active && completed
        ? (completed.timeUs - active.timeUs) / 1000
        : (info["total-time"] ?? 0) - (info["setup-time"] ?? 0);
    await this.prepareMemoryForNext();
    return this.complete({
      qemuDowntimeMs: info.downtime,
      setupMs: info["setup-time"],
      totalMs: this.now() - this.setupStartedAt,
      ramTotalBytes: info.ram?.total,
      ramTransferredBytes: info.ram?.transferred,
      throughputBytesPerSec: transferMs > 0 ? Math.round(waited.bytesWritten / (transferMs / 1000)) : undefined,
    });
  }

  private writeErrorMessage(r: VmstateSinkResult): string {
    const e = r.writeError!;
    const why =
      e.code !== "ENOSPC"
        ? `${e.code ?? "I/O error"}: ${e.message}`
        : e.keptFreeBytes
          ? `the disk is full: ${e.message}`
          : "the disk is full";
    return `writing the vmstate to ${this.sink!.filePath} failed (${why}); QEMU's stream was drained so the guest kept running, and the partial file was removed`;
  }

  /** `cont` for a guest we stopped and have not seen running again; a failure is kept for the operator. */
  private async resumeIfOurs(): Promise<void> {
    if (!this.stoppedByUs || !this.qmp.connected) return;
    try {
      await this.qmp.cont();
      this.stoppedByUs = false;
      this.guestLeftPaused = undefined;
    } catch (err) {
      this.guestLeftPaused = `resuming the guest Snapfleet paused for the snapshot failed: ${describe(err)}`;
    }
  }

  /**
   * The end of every run: a guest that was running before the snapshot must be running after it,
   * whatever QEMU version and whatever happened (query-status, not only our own bookkeeping).
   */
  private async ensureGuestRuns(): Promise<void> {
    // Only once the run touched the VM (its pause), and never for a VM that was paused before it.
    if (!this.report || this.wasPaused || this.setupStartedAt === 0 || !this.qmp.connected) return;
    await this.resumeIfOurs();
    try {
      const { status } = await this.qmp.queryStatus();
      // Paused at the end although it ran before, and no second STOP (an operator's pause meanwhile) since
      // the snapshot's own: the snapshot left it paused (our `cont` lost, or QEMU ≥ 9 restoring the state it
      // found at `migrate`) — resume it.
      const stops = this.events.filter((e) => e.event === "STOP").length;
      if (status === "paused" && stops <= 1) {
        await this.qmp.cont();
        this.log?.warn("the guest was still paused at the end of the snapshot: resumed");
      }
    } catch (err) {
      this.guestLeftPaused ??= `checking that the guest runs again after the snapshot failed: ${describe(err)}`;
    }
    if (this.guestLeftPaused) this.log?.error({ reason: this.guestLeftPaused }, "the guest may be left paused");
  }

  private async complete(metrics: SnapshotMetrics): Promise<SnapshotRunResult> {
    await this.restop;
    await this.ensureGuestRuns();
    await this.restoreCapabilities();
    const files: SnapshotFile[] = [];
    if (this.sinkResult)
      files.push({ path: this.sink!.filePath, role: "vmstate", sizeBytes: this.sinkResult.bytesWritten });
    const name = internalSnapshotName(this.input.snapshotId);
    for (const t of this.taken)
      files.push({ path: t.image, role: "disk", format: "qcow2", internalSnapshot: name, sizeBytes: 0 });
    const guestPauseMs = this.guestPauseMs();
    const sizeBytes = files.reduce((n, f) => n + f.sizeBytes, 0);
    const quiesce = await this.quiesced;
    const parts = [
      guestPauseMs !== undefined
        ? `guest paused ${guestPauseMs.toFixed(1)} ms`
        : this.wasPaused
          ? "the VM was paused and stays paused"
          : undefined,
      this.sinkResult ? `RAM ${mib(this.sinkResult.bytesWritten)}` : undefined,
      this.taken.length
        ? `${this.taken.length} disk${this.taken.length > 1 ? "s" : ""} (internal snapshot${this.taken.length > 1 ? "s" : ""} ${name})`
        : undefined,
      this.memoryNote,
      this.gateNote,
      quiesce?.consistency === "application" ? `application-consistent (${quiesce.note})` : undefined,
    ].filter(Boolean);
    return {
      status: "completed",
      detail: parts.join(", "),
      targetDir: this.targetDir,
      metrics: { ...metrics, guestPauseMs, sizeBytes },
      files,
      guestLeftPaused: this.guestLeftPaused,
      consistency: this.taken.length ? (quiesce?.consistency ?? "crash") : undefined,
      quiesceNote: quiesce?.note,
    };
  }

  private result(
    status: "cancelled" | "failed",
    detail: string,
    error?: SnapshotRunResult["error"],
  ): SnapshotRunResult {
    const guestPauseMs = this.guestPauseMs();
    return {
      status,
      error,
      detail,
      targetDir: this.targetDir,
      metrics: {
        guestPauseMs,
        ramTotalBytes: this.lastInfo.ram?.total,
        ramTransferredBytes: this.lastInfo.ram?.transferred,
      },
      files: [],
      guestLeftPaused: this.guestLeftPaused,
      guestFrozen: this.guestFrozen,
    };
  }

  private async fail(failure: SnapshotFailure): Promise<SnapshotRunResult> {
    this.log?.warn({ err: failure.cause ?? failure, errorClass: failure.errorClass }, "snapshot failed");
    let message = failure.message;
    try {
      const note = await this.cleanup(failure.message);
      if (note) message += `. ${note}`;
    } catch (err) {
      this.log?.error({ err }, "cleanup after a failed snapshot failed");
      message += `. Cleaning up failed too: ${describe(err)}`;
    }
    return this.result("failed", message, { errorClass: failure.errorClass, message });
  }

  /**
   * Puts the VM back as it was. Returns a sentence for the operator when something could not be undone.
   * Order: wait for QEMU to be done with the sink (never cut it), resume the guest if we paused it,
   * delete the internal snapshots taken, put capabilities back, remove the ledger's files and (empty)
   * directories.
   */
  private async cleanup(reason = "cancelled"): Promise<string | undefined> {
    const notes: string[] = [];
    if (this.sink && !this.sinkResult) {
      await this.sink.switchToDiscard(reason);
      await this.sink.close();
      const r = await timeout(this.sink.finished, SINK_CLOSE_TIMEOUT_MS);
      if (r === "timeout") notes.push("QEMU did not close its stream; the vmstate socket was left to drain");
      else this.sinkResult = r;
    }
    await this.restop;
    const alive = this.qmp.connected;
    if (alive && this.stoppedByUs) {
      await this.resumeIfOurs();
      if (this.guestLeftPaused) notes.push(this.guestLeftPaused);
    }
    if (alive) await this.ensureGuestRuns();
    else if (this.stoppedByUs)
      this.guestLeftPaused = "the VM's monitor connection was lost before the guest Snapfleet paused could be resumed";
    await this.restoreCapabilities();
    notes.push(
      ...(await rollBackRun({
        qmp: this.qmp,
        snapshotId: this.input.snapshotId,
        taken: this.taken,
        ledger: this.ledger,
        files: this.input.hostFiles,
      })),
    );
    return notes.length ? notes.join(". ") : undefined;
  }
}
