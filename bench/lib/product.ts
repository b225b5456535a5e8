// Snapshots through the product, as an operator's browser would take them: POST /api/vms/{id}/snapshots
// and follow `snapshot.updated` frames on the VM's WebSocket topic until the job ends. The guest pause
// is measured twice: by the bench's own QMP session on a second monitor (STOP → RESUME events) and by
// Snapfleet (guestPauseMs); the table uses the bench's, the JSON keeps both.
import { rm } from "node:fs/promises";
import type { SnapshotJson } from "../../lib/snapshots/snapshot-json";
import { migrationEventUs, pauseFrom, startBenchVm, type BenchVm, type GuestShape, type Load } from "./guest";
import type { QmpEvent } from "../../lib/qmp";
import { hugeMappedMiB, pauseBreakdown, type SnapshotSample } from "./methods";
import type { SnapfleetServer, WsClient } from "./snapfleet";

const TERMINAL = new Set(["completed", "failed", "cancelled"]);

export interface ProductVm {
  bvm: BenchVm;
  vmId: string;
  ws: WsClient;
  dispose(): Promise<void>;
}

export async function startProductVm(
  server: SnapfleetServer,
  name: string,
  load: Load,
  shape?: GuestShape,
): Promise<ProductVm> {
  const bvm = await startBenchVm({ name, load, productSocketDir: server.socketDir, ...shape?.(load) });
  try {
    const vm = await server.findVm(name);
    const ws = await server.ws();
    await ws.subscribe([`vm:${vm.id}`]);
    return {
      bvm,
      vmId: vm.id,
      ws,
      dispose: async () => {
        ws.close();
        await bvm.dispose();
      },
    };
  } catch (err) {
    await bvm.dispose();
    throw err;
  }
}

export interface ProductSnapshot extends SnapshotSample {
  snapshotId?: string;
  /** Snapfleet's own STOP→RESUME figure. */
  productPauseMs?: number | null;
  /** POST sent → first `setup` frame (ms, wall clock). */
  toSetupFrameMs?: number;
  /** QEMU's own streaming time (MIGRATION active → completed events), ms. */
  qemuStreamMs?: number;
  /** Each status the job went through, ms after the row was created. */
  phases?: Record<string, number>;
}

function streamMs(bvm: BenchVm, from: number): number | undefined {
  const a = migrationEventUs(bvm.events, from, "active");
  const c = migrationEventUs(bvm.events, from, "completed");
  return a && c ? (c - a) / 1000 : undefined;
}

/** Takes one snapshot through the API and waits for its end; removes the vmstate file afterwards. */
export async function takeThroughApi(
  server: SnapfleetServer,
  p: ProductVm,
  mode: "live" | "ram-only",
): Promise<ProductSnapshot> {
  const hugeBefore = await hugeMappedMiB(p.bvm.vm.pid);
  const fromEvent = p.bvm.events.length;
  const fromFrame = p.ws.frames.length;
  const sent = Date.now();
  try {
    const { snapshot } = await server.api<{ snapshot: SnapshotJson }>("POST", `/api/vms/${p.vmId}/snapshots`, { mode });
    const isMine = (f: { name?: string; payload?: Record<string, unknown> }) =>
      f.name === "snapshot.updated" && f.payload?.id === snapshot.id;
    const end = await Promise.race([
      p.ws.waitFor((f) => isMine(f) && TERMINAL.has(String(f.payload?.status)), 600_000, fromFrame),
      server.exited.then((why) => Promise.reject(new Error(why))),
    ]);
    const setupFrame = p.ws.frames.slice(fromFrame).find((f) => isMine(f) && f.payload?.status === "setup");
    const s = end.payload as unknown as SnapshotJson;
    const vmstate = s.files.find((f) => f.role === "vmstate");
    if (vmstate) await rm(vmstate.path, { force: true }); // keeps disk use bounded; overlays stay (the VM writes to them)
    if (s.status !== "completed")
      return { ok: false, snapshotId: s.id, error: `${s.status}: ${s.error?.message ?? "no reason"}` };
    // A RAM-walk gate that lost its race (run-snapshot.ts): QEMU's first, discarded stream paused the
    // guest on its own; the snapshot's pause is the second stream's.
    const detail = s.statusHistory.at(-1)?.detail ?? "";
    const retaken = /taken again the pipelined way/.test(detail);
    const from = retaken ? afterFirstCompleted(p.bvm.events, fromEvent) : fromEvent;
    return {
      ok: true,
      snapshotId: s.id,
      note: retaken
        ? `gate lost (${/\b(QEMU's RAM walk [^:]*|the gate's writer did not start)/.exec(detail)?.[1] ?? "?"})`
        : /\(gated\)/.test(detail)
          ? "gated"
          : undefined,
      ...pauseFrom(p.bvm.events, from),
      productPauseMs: s.guestPauseMs,
      qemuDowntimeMs: s.qemuDowntimeMs ?? undefined,
      setupMs: s.setupMs ?? undefined,
      totalMs: end.atMs - sent,
      bytes: vmstate?.sizeBytes,
      streamMBps: s.throughputBytesPerSec ? s.throughputBytesPerSec / 1e6 : undefined,
      toSetupFrameMs: setupFrame ? setupFrame.atMs - sent : undefined,
      qemuStreamMs: streamMs(p.bvm, fromEvent),
      breakdown: pauseBreakdown(p.bvm.events, from),
      hugeMappedMiB: hugeBefore,
      phases: Object.fromEntries(s.statusHistory.map((h) => [h.status, Date.parse(h.at) - Date.parse(s.createdAt)])),
    };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
}

/** Index just past the first MIGRATION completed event from `from` (the end of a discarded stream). */
function afterFirstCompleted(events: readonly QmpEvent[], from: number): number {
  const i = events.findIndex(
    (e, n) => n >= from && e.event === "MIGRATION" && (e.data as { status?: string }).status === "completed",
  );
  return i < 0 ? from : i + 1;
}
