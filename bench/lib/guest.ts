// Benchmark VMs: a 1 GiB guest-kit VM (tests/support/guest-kit.ts) idle or busy, with the bench's own
// QMP session on the harness monitor (events from QEMU go to every monitor, so the bench sees STOP and
// RESUME whoever drives the snapshot) and, for product runs, a second monitor in a shared socket
// directory that Snapfleet discovers and owns.
import path from "node:path";
import { connectQmp, type QmpClient, type QmpEvent } from "../../lib/qmp";
import { startGuestKitVm } from "../../tests/support/guest-kit";
import type { TestVm } from "../../tests/support/qemu";

export type Load = "idle" | "busy";

/** idle: the guest only writes its disk counter (every 50 ms); busy: it also rewrites this much RAM continuously. */
export const BUSY_DIRTY_MIB = 384;
export const GUEST_MEMORY_MIB = 1024;

export const LOAD_DESCRIPTION: Record<Load, string> = {
  idle: "guest kit writing its disk counter every 50 ms, RAM otherwise untouched",
  busy: `guest kit also rewriting ${BUSY_DIRTY_MIB} MiB of RAM continuously`,
};

/** RAM the size runs keep written: 85 % of the guest, as a long-running production guest has it resident. */
export const RESIDENT_FRACTION = 0.85;

/** A guest's memory and resident fill for a load (the busy dirtier's buffer counts toward the 85 %). */
export type GuestShape = (load: Load) => { memoryMiB: number; fillMiB: number };

export function residentGuest(sizeGiB: number): GuestShape {
  const memoryMiB = sizeGiB * 1024;
  // The guest kernel and the kit take ~64 MiB of the resident share themselves.
  return (load) => ({
    memoryMiB,
    fillMiB: Math.max(0, Math.round(memoryMiB * RESIDENT_FRACTION) - 64 - (load === "busy" ? BUSY_DIRTY_MIB : 0)),
  });
}

export interface BenchVm {
  vm: TestVm;
  load: Load;
  /** The bench's session (harness monitor). */
  qmp: QmpClient;
  /** Every event since start, in order. */
  events: QmpEvent[];
  /** The monitor Snapfleet discovers (product runs only). */
  productSocket?: string;
  dispose(): Promise<void>;
}

export interface BenchVmOptions {
  name: string;
  load: Load;
  memoryMiB?: number;
  /** RAM the guest writes once at boot and then leaves resident (guest kit snapfleet.fill_mib). */
  fillMiB?: number;
  /** Adds a second QMP monitor `<dir>/<name>.sock` for Snapfleet. */
  productSocketDir?: string;
  extraArgs?: string[];
}

export async function startBenchVm(opts: BenchVmOptions): Promise<BenchVm> {
  const productSocket = opts.productSocketDir ? path.join(opts.productSocketDir, `${opts.name}.sock`) : undefined;
  const vm = await startGuestKitVm({
    name: opts.name,
    memoryMiB: opts.memoryMiB ?? GUEST_MEMORY_MIB,
    dirtyMiB: opts.load === "busy" ? BUSY_DIRTY_MIB : 0,
    fillMiB: opts.fillMiB,
    diskCounter: true,
    extraArgs: [
      ...(productSocket ? ["-qmp", `unix:${productSocket},server=on,wait=off`] : []),
      ...(opts.extraArgs ?? []),
    ],
  });
  try {
    // busy: wait until the dirtier has written its whole buffer once, so the RAM is populated.
    if (opts.load === "busy") await vm.waitForSerial(/^RAM CONSISTENT [^\n]*\n/m, 180_000);
    const qmp = await connectQmp({ kind: "unix", path: vm.qmpSocket }, { commandTimeoutMs: 120_000 });
    const events: QmpEvent[] = [];
    qmp.on("*", (e) => events.push(e));
    return {
      vm,
      load: opts.load,
      qmp,
      events,
      productSocket,
      dispose: async () => {
        await qmp.close().catch(() => {}); // a monitor already closed is what dispose wants
        await vm.dispose();
      },
    };
  } catch (err) {
    await vm.dispose();
    throw err;
  }
}

/** Guest pause: QEMU's STOP → the next RESUME, among events from index `from` (QEMU.md §1, §8). */
export function pauseFrom(
  events: readonly QmpEvent[],
  from: number,
): { pauseMs?: number; stopUs?: number; resumeUs?: number } {
  const stop = events.slice(from).find((e) => e.event === "STOP");
  if (!stop) return {};
  const resume = events.slice(from).find((e) => e.event === "RESUME" && e.timeUs >= stop.timeUs);
  return {
    stopUs: stop.timeUs,
    resumeUs: resume?.timeUs,
    pauseMs: resume ? (resume.timeUs - stop.timeUs) / 1000 : undefined,
  };
}

export function migrationEventUs(events: readonly QmpEvent[], from: number, status: string): number | undefined {
  return events.slice(from).find((e) => e.event === "MIGRATION" && (e.data as { status?: string }).status === status)
    ?.timeUs;
}
