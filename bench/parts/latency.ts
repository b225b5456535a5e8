// `npm run bench -- latency`: how fast the dashboard tells a browser what happens. VMS idle VMs (QEMU
// with no OS, 128 MiB, one disk) registered in Snapfleet; a WebSocket client subscribed to each VM's
// topic; SNAPSHOTS `live` snapshots through the API, the VMs in parallel, each VM one at a time.
//   POST → setup frame   wall time from sending POST /api/vms/{id}/snapshots to the first
//                        `snapshot.updated` frame with status "setup" on the client;
//   QMP event → frame    QEMU's STOP/RESUME event timestamp (seen by the bench's own session on the VM's
//                        other monitor) to the client receiving the matching `vm.state` frame
//                        (paused/running). Same host clock on both sides.
import { startVm, type TestVm } from "../../tests/support/qemu";
import { connectQmp, type QmpClient, type QmpEvent } from "../../lib/qmp";
import type { SnapshotJson } from "../../lib/snapshots/snapshot-json";
import { loadSample } from "../lib/machine";
import { fmt, provenance, table, updateDocsSection, writeResult, type ResultFile } from "../lib/report";
import { summarize } from "../lib/stats";
import type { BenchContext } from "../lib/context";

/** Within the default per-host admission limit (2): the figure is the dashboard's latency, not queueing. */
const VMS = 2;
const DEFAULT_SNAPSHOTS = 100;

export interface LatencyData {
  vms: number;
  snapshots: number;
  postToSetupMs: number[];
  eventToFrameMs: number[];
  missedEventFrames: number;
  failures: string[];
}

export function renderLatency(r: ResultFile<LatencyData>): string {
  const d = r.data;
  const a = summarize(d.postToSetupMs);
  const b = summarize(d.eventToFrameMs);
  const row = (name: string, s: ReturnType<typeof summarize>) => [
    name,
    `${s.n}`,
    fmt(s.p50, 1),
    fmt(s.p95, 1),
    fmt(s.p99, 1),
    fmt(s.max, 1),
  ];
  return [
    table(
      ["latency", "samples", "p50 ms", "p95 ms", "p99 ms", "max ms"],
      [row("POST …/snapshots → first `setup` frame", a), row("QMP STOP/RESUME event → `vm.state` frame", b)],
    ),
    "",
    `${d.snapshots} \`live\` snapshots of ${d.vms} idle VMs (no OS, 128 MiB), the VMs in parallel; ${d.failures.length} failed; ${d.missedEventFrames} QMP events without a matching frame (coalesced or lost).`,
    "",
    `Produced by ${provenance(r)}`,
  ].join("\n");
}

interface LatencyVm {
  vm: TestVm;
  qmp: QmpClient;
  events: QmpEvent[];
  id: string;
}

export async function runLatencyPart(ctx: BenchContext): Promise<void> {
  const started = new Date();
  const load0 = loadSample();
  const total = ctx.flags.snapshots ? Number(ctx.flags.snapshots) : DEFAULT_SNAPSHOTS;
  const server = await ctx.snapfleet();
  const ws = await server.ws();
  const vms: LatencyVm[] = [];
  const data: LatencyData = {
    vms: VMS,
    snapshots: total,
    postToSetupMs: [],
    eventToFrameMs: [],
    missedEventFrames: 0,
    failures: [],
  };
  try {
    for (let i = 0; i < VMS; i++) {
      const name = `sf-lat-${i}`;
      const vm = await startVm({
        name,
        memoryMiB: 128,
        extraArgs: ["-qmp", `unix:${server.socketDir}/${name}.sock,server=on,wait=off`],
      });
      const qmp = await connectQmp({ kind: "unix", path: vm.qmpSocket });
      const events: QmpEvent[] = [];
      qmp.on(["STOP", "RESUME"], (e) => events.push(e));
      vms.push({ vm, qmp, events, id: (await server.findVm(name)).id });
    }
    await ws.subscribe(vms.map((v) => `vm:${v.id}`));
    const perVm = Math.ceil(total / VMS);
    await Promise.all(
      vms.map(async (v, i) => {
        await new Promise((r) => setTimeout(r, i * 150)); // stagger, so the VMs do not move in lockstep
        for (let k = 0; k < perVm && i * perVm + k < total; k++) {
          const fromFrame = ws.frames.length;
          const fromEvent = v.events.length;
          const sent = Date.now();
          try {
            const { snapshot } = await server.api<{ snapshot: SnapshotJson }>("POST", `/api/vms/${v.id}/snapshots`, {
              mode: "live",
            });
            const mine = (f: { name?: string; payload?: Record<string, unknown> }) =>
              f.name === "snapshot.updated" && f.payload?.id === snapshot.id;
            const setup = await ws.waitFor((f) => mine(f) && f.payload?.status === "setup", 60_000, fromFrame);
            data.postToSetupMs.push(setup.atMs - sent);
            const end = await ws.waitFor(
              (f) => mine(f) && ["completed", "failed", "cancelled"].includes(String(f.payload?.status)),
              300_000,
              fromFrame,
            );
            if (end.payload?.status !== "completed")
              data.failures.push(String((end.payload as SnapshotJson).error?.message ?? end.payload?.status));
            await new Promise((r) => setTimeout(r, 300)); // late vm.state frames
            for (const e of v.events.slice(fromEvent)) {
              const state = e.event === "STOP" ? "paused" : "running";
              const frame = ws.frames
                .slice(fromFrame)
                .find(
                  (f) =>
                    f.name === "vm.state" &&
                    f.topic === `vm:${v.id}` &&
                    f.payload?.state === state &&
                    f.atMs >= e.timeUs / 1000 - 5,
                );
              if (frame) data.eventToFrameMs.push(frame.atMs - e.timeUs / 1000);
              else data.missedEventFrames++;
            }
          } catch (err) {
            data.failures.push((err as Error).message);
          }
        }
      }),
    );
  } finally {
    ws.close();
    for (const v of vms) {
      await v.qmp.close().catch(() => {}); // closed already: fine for a dispose
      await v.vm.dispose();
    }
  }
  ctx.log(
    `latency: ${data.postToSetupMs.length} setup frames, ${data.eventToFrameMs.length} event frames, ${data.failures.length} failures`,
  );
  const file = writeResult("latency", started, load0, data);
  const text = renderLatency(file);
  console.log(`\n${text}\n`);
  updateDocsSection("latency", text);
}
