// Snapshot methods the bench drives over bare QMP (its own session on the harness monitor), each taking
// one disk+RAM-consistent snapshot of a guest-kit VM and reporting what the guest paid for it:
//   classic   stop → transaction(blockdev-snapshot-sync) → migrate (background snapshot), each awaited:
//             the naive sequence (Snapfleet's before the pause strategy), no memory collapse;
//   strategy  lib/snapshots/pause-steps.ts: stop + transaction(blockdev-snapshot-internal-sync) + migrate
//             pipelined (the disk state stays inside the qcow2 image), guest RAM collapsed back into
//             2 MiB pages after the snapshot;
//   ram-only  migrate alone (background snapshot): QEMU's own pause, the floor;
//   precopy   plain migration to the file while the guest runs, QEMU stops it at convergence
//             (pause-before-switchover keeps it stopped so the disks can be layered at that instant),
//             then `cont`; a guest that dirties faster than the stream never converges: after
//             PRECOPY_CAP_MS the bench stops it (as an operator would);
//   savevm    snapshot-save (internal snapshot in the qcow2, guest paused throughout), then deleted.
// On QEMU ≥ 9 classic and strategy `cont` the guest once RAM streams, as Snapfleet does (QEMU no longer
// resumes a guest that was stopped when the snapshot began).
// Guest pause is always the QMP STOP → RESUME event timestamps seen by the bench's session.
import { readFile, rm } from "node:fs/promises";
import path from "node:path";
import type { QmpClient, QmpEvent } from "../../lib/qmp";
import { recollapseGuestMemory } from "../../lib/snapshots/host-memory";
import { qemuResumesByItself } from "../../lib/snapshots/pause-plan";
import { layerAndStream, resumeWhenStreaming } from "../../lib/snapshots/pause-steps";
import { migrationEventUs, pauseFrom, type BenchVm } from "./guest";
import { openFileSink } from "./sink";

export type BareMethodId = "classic" | "strategy" | "ram-only" | "precopy" | "savevm";

export interface SnapshotSample {
  ok: boolean;
  error?: string;
  pauseMs?: number;
  /** QEMU's own `downtime` (query-migrate), when it reports one. */
  qemuDowntimeMs?: number;
  /** QEMU's `setup-time`. */
  setupMs?: number;
  /** From the first command to the snapshot being complete on disk. */
  totalMs?: number;
  /** vmstate bytes written. */
  bytes?: number;
  /** bytes over the streaming time (MIGRATION active → completed), MB/s. */
  streamMBps?: number;
  note?: string;
  /** Host-side memory collapse after the snapshot (strategy only). */
  collapseMs?: number;
  /** The pause cut at QEMU's events (background snapshots): see pauseBreakdown. */
  breakdown?: PauseBreakdown;
  /** Guest RAM mapped by 2 MiB pages (QEMU's AnonHugePages) just before the snapshot, MiB. */
  hugeMappedMiB?: number;
}

/**
 * Where a background snapshot's pause goes, from QEMU's own event timestamps:
 *   commandsMs  STOP → MIGRATION setup: our commands inside the pause (stop, transaction, migrate);
 *   setupMs     setup → active: channel connect, ram_write_tracking_prepare, qemu_savevm_state_setup;
 *   deviceMs    active → RESUME: device state, ram_write_tracking_start (UFFDIO_WRITEPROTECT), resume.
 * For ram-only, QEMU's own STOP comes after `active`: only deviceMs (its STOP → RESUME) is set.
 */
export interface PauseBreakdown {
  commandsMs?: number;
  setupMs?: number;
  deviceMs?: number;
}

export function pauseBreakdown(events: readonly QmpEvent[], from: number): PauseBreakdown | undefined {
  const p = pauseFrom(events, from);
  const setup = migrationEventUs(events, from, "setup");
  const active = migrationEventUs(events, from, "active");
  if (!p.stopUs || !p.resumeUs || !setup || !active) return undefined;
  if (p.stopUs > active) return { deviceMs: (p.resumeUs - p.stopUs) / 1000 };
  // Gated (lib/snapshots/ram-walk-gate.ts): QEMU's setup, its RAM walk, ran before our STOP.
  if (setup < p.stopUs)
    return { commandsMs: (active - p.stopUs) / 1000, setupMs: 0, deviceMs: (p.resumeUs - active) / 1000 };
  return {
    commandsMs: (setup - p.stopUs) / 1000,
    setupMs: (active - setup) / 1000,
    deviceMs: (p.resumeUs - active) / 1000,
  };
}

/** QEMU's AnonHugePages in MiB (how much guest RAM is mapped by 2 MiB pages). */
export async function hugeMappedMiB(pid: number): Promise<number | undefined> {
  const text = await readFile(`/proc/${pid}/smaps_rollup`, "utf8").catch(() => "");
  const kb = /^AnonHugePages:\s+(\d+)/m.exec(text)?.[1];
  return kb === undefined ? undefined : Math.round(Number(kb) / 1024);
}

export interface TakeContext {
  bvm: BenchVm;
  /** Scratch directory for this VM's overlays and vmstate files. */
  dir: string;
  ordinal: number;
}

export const PRECOPY_CAP_MS = 5_000;
const DONE_TIMEOUT_MS = 300_000;

export const statusOf = (e: QmpEvent) => (e.data as { status?: string }).status;

export function waitMigration(qmp: QmpClient, statuses: string[], timeoutMs = DONE_TIMEOUT_MS): Promise<QmpEvent> {
  return qmp.waitForEvent("MIGRATION", { predicate: (e) => statuses.includes(statusOf(e) ?? ""), timeoutMs });
}

export async function setCapabilities(qmp: QmpClient, caps: Record<string, boolean>): Promise<void> {
  await qmp.migrateSetCapabilities(Object.entries(caps).map(([capability, state]) => ({ capability, state })));
}

/** A writable disk of the VM as it is now (the top of its chain) and where an external overlay would go. */
interface LayerTarget {
  node: string;
  overlayPath: string;
  overlayNode: string;
}

/** The VM's writable disk(s) as they are now (the top of each chain). */
export async function layerTargets(qmp: QmpClient, dir: string, ordinal: number): Promise<LayerTarget[]> {
  const blocks = await qmp.queryBlock();
  return blocks
    .filter((b) => b.inserted && !b.inserted.ro && b.inserted["node-name"])
    .map((b, i) => ({
      node: b.inserted!["node-name"]!,
      overlayPath: path.join(dir, `ov${ordinal}-${i}.qcow2`),
      overlayNode: `bov${ordinal}d${i}`,
    }));
}

/** One transaction of blockdev-snapshot-sync: each target's node gets its overlay on top. */
async function layerDisks(qmp: QmpClient, targets: LayerTarget[]): Promise<void> {
  await qmp.transaction(
    targets.map((t) => ({
      type: "blockdev-snapshot-sync",
      data: {
        "node-name": t.node,
        "snapshot-file": t.overlayPath,
        "snapshot-node-name": t.overlayNode,
        format: "qcow2",
        mode: "absolute-paths",
      },
    })),
  );
}

function streamFigures(events: readonly QmpEvent[], from: number, bytes: number): { streamMBps?: number } {
  const a = migrationEventUs(events, from, "active");
  const c = migrationEventUs(events, from, "completed");
  return a && c && c > a ? { streamMBps: bytes / 1e6 / ((c - a) / 1e6) } : {};
}

async function backgroundSnapshot(
  ctx: TakeContext,
  variant: "classic" | "strategy" | "ram-only",
): Promise<SnapshotSample> {
  const { qmp, events, vm } = ctx.bvm;
  await setCapabilities(qmp, { "background-snapshot": true, events: true });
  const file = path.join(ctx.dir, `vmstate-${ctx.ordinal}.bin`);
  const sink = await openFileSink(ctx.dir, `sink-${ctx.ordinal}`, file);
  const hugeBefore = await hugeMappedMiB(vm.pid);
  const from = events.length;
  const done = waitMigration(qmp, ["completed", "failed"]);
  const started = performance.now();
  let note: string | undefined;
  try {
    if (variant === "classic") {
      const targets = await layerTargets(qmp, ctx.dir, ctx.ordinal);
      await qmp.stop();
      await layerDisks(qmp, targets);
      await qmp.migrate(sink.uri);
    } else if (variant === "strategy") {
      const targets = await layerTargets(qmp, ctx.dir, ctx.ordinal);
      const r = await layerAndStream(qmp, {
        disks: targets.map((t) => ({ node: t.node, name: `bench-${ctx.ordinal}` })),
        uri: sink.uri,
        stop: true,
      });
      const failed = r.stopError ?? r.transactionError ?? r.migrateError;
      if (failed) throw failed;
    } else {
      await qmp.migrate(sink.uri);
    }
    // QEMU ≥ 9 keeps a guest we stopped paused after its setup (pause-plan.ts header, point 4).
    if (variant !== "ram-only" && !qemuResumesByItself(qmp.greeting.version.qemu)) await resumeWhenStreaming(qmp);
    const end = await done;
    const bytes = await sink.done;
    const totalMs = performance.now() - started;
    const info = await qmp.queryMigrate();
    if (statusOf(end) !== "completed")
      throw new Error(`migration ${statusOf(end)}: ${info["error-desc"] ?? "no reason"}`);
    let collapseMs: number | undefined;
    if (variant === "strategy") {
      const c = await recollapseGuestMemory(vm.pid);
      collapseMs = c.ms;
      note = `collapse ${c.scope ?? "none"} ${Math.round(c.collapsedBytes / 1024 ** 2)} MiB${c.ok ? "" : ` (${c.reason})`}`;
    }
    return {
      ok: true,
      ...pauseFrom(events, from),
      qemuDowntimeMs: info.downtime,
      setupMs: info["setup-time"],
      totalMs,
      bytes,
      ...streamFigures(events, from, bytes),
      collapseMs,
      note,
      breakdown: pauseBreakdown(events, from),
      hugeMappedMiB: hugeBefore,
    };
  } finally {
    sink.close();
    await rm(file, { force: true });
  }
}

async function precopy(ctx: TakeContext): Promise<SnapshotSample> {
  const { qmp, events } = ctx.bvm;
  await setCapabilities(qmp, { "background-snapshot": false, events: true, "pause-before-switchover": true });
  // 7.2 defaults to 32 MiB/s; lift it so the comparison is about the method, not a throttle.
  await qmp.execute("migrate-set-parameters", { "max-bandwidth": 8 * 1024 ** 3 });
  const file = path.join(ctx.dir, `vmstate-${ctx.ordinal}.bin`);
  const sink = await openFileSink(ctx.dir, `sink-${ctx.ordinal}`, file);
  const from = events.length;
  const started = performance.now();
  try {
    const preSwitchover = waitMigration(qmp, ["pre-switchover", "failed"]);
    const done = waitMigration(qmp, ["completed", "failed"]);
    await qmp.migrate(sink.uri);
    let forced = false;
    const capped = await Promise.race([
      preSwitchover,
      new Promise<"cap">((r) => setTimeout(() => r("cap"), PRECOPY_CAP_MS)),
    ]);
    if (capped === "cap") {
      forced = true;
      await qmp.stop(); // never converges while the guest dirties faster than the stream
      await preSwitchover;
    }
    // The VM is stopped at the switchover point: layer the disks at that instant, then let it finish.
    const targets = await layerTargets(qmp, ctx.dir, ctx.ordinal);
    await layerDisks(qmp, targets);
    await qmp.execute("migrate-continue", { state: "pre-switchover" });
    const end = await done;
    const info = await qmp.queryMigrate();
    await qmp.cont();
    const bytes = await sink.done;
    if (statusOf(end) !== "completed")
      throw new Error(`migration ${statusOf(end)}: ${info["error-desc"] ?? "no reason"}`);
    return {
      ok: true,
      ...pauseFrom(events, from),
      qemuDowntimeMs: info.downtime,
      setupMs: info["setup-time"],
      totalMs: performance.now() - started,
      bytes,
      ...streamFigures(events, from, bytes),
      note: forced ? `did not converge in ${PRECOPY_CAP_MS / 1000} s: stopped by the bench` : undefined,
    };
  } finally {
    sink.close();
    await rm(file, { force: true });
  }
}

async function runJob(qmp: QmpClient, id: string, command: string, args: Record<string, unknown>): Promise<void> {
  const concluded = qmp.waitForEvent("JOB_STATUS_CHANGE", {
    predicate: (e) => (e.data as { id?: string }).id === id && statusOf(e) === "concluded",
    timeoutMs: DONE_TIMEOUT_MS,
  });
  await qmp.execute(command, { "job-id": id, ...args });
  await concluded;
  const job = (await qmp.queryJobs()).find((j) => j.id === id);
  await qmp.jobDismiss(id);
  if (job?.error) throw new Error(`${command}: ${job.error}`);
}

async function savevm(ctx: TakeContext): Promise<SnapshotSample> {
  const { qmp, events } = ctx.bvm;
  const [disk] = await layerTargets(qmp, ctx.dir, ctx.ordinal);
  const tag = `bench-${ctx.ordinal}`;
  const from = events.length;
  const started = performance.now();
  await runJob(qmp, `save-${ctx.ordinal}`, "snapshot-save", { tag, vmstate: disk.node, devices: [disk.node] });
  const totalMs = performance.now() - started;
  const sample: SnapshotSample = { ok: true, ...pauseFrom(events, from), totalMs };
  const node = (await qmp.queryNamedBlockNodes({ flat: true })).find((n) => n["node-name"] === disk.node);
  sample.bytes = node?.image.snapshots?.find((s) => s.name === tag)?.["vm-state-size"];
  // Keep the image from growing by a guest's RAM per run (not part of the measurement).
  await runJob(qmp, `del-${ctx.ordinal}`, "snapshot-delete", { tag, devices: [disk.node] });
  return sample;
}

export async function takeBare(method: BareMethodId, ctx: TakeContext): Promise<SnapshotSample> {
  try {
    if (method === "precopy") return await precopy(ctx);
    if (method === "savevm") return await savevm(ctx);
    return await backgroundSnapshot(ctx, method);
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
}
