// The bench's `gated` method: a prototype of taking QEMU's RAM walk out of the guest pause on QEMU < 9
// (docs/performance.md, "Where a big guest's pause goes"). Measured here, not yet in the product.
//
// Why it works (QEMU 7.2 migration/migration.c bg_migration_thread, migration/ram.c): the migration
// thread first walks guest RAM (ram_write_tracking_prepare: one read per 4 KiB page, the part of the
// pause that grows with RAM), then writes the header and setup sections and flushes them
// (ram_save_setup → qemu_fflush) WITHOUT the BQL, and only then stops the VM itself. The sequence:
//   1. `migrate exec:perl gate-writer.pl …` with the guest running: the writer closes the gate (fills its
//      one-page stdin pipe) before QEMU's first write, so the walk runs while the guest runs and QEMU's
//      thread then blocks in pipe_write;
//   2. once a QEMU thread sits in pipe_write (read from /proc/<pid>/task/*/wchan; local hosts), `stop` +
//      the disks' internal snapshots, pipelined (pause-steps.ts layerAndStream, no stream);
//   3. "go": the writer reads on; QEMU stops the (already paused) VM, saves device state, write-protects
//      RAM and resumes the guest by itself (QEMU < 9).
// The RAM instant is our `stop` (nothing runs between it and QEMU's write protection), the disks' is the
// transaction that follows it: consistent, as with the pipelined strategy. If the writer loses the race
// (QEMU wrote first: small guests, whose walk is short) QEMU snapshots RAM on its own instant, so the
// run is discarded and reported as such. On QEMU ≥ 9 the setup is flushed under the BQL
// (`bql_lock(); qemu_savevm_state_setup(); bql_unlock()`): a closed gate would hold the main loop and
// `stop` could not run, so the method refuses those versions.
import { readdir, readFile, rm } from "node:fs/promises";
import net from "node:net";
import path from "node:path";
import { recollapseGuestMemory } from "../../lib/snapshots/host-memory";
import { layerAndStream } from "../../lib/snapshots/pause-steps";
import { migrationEventUs, pauseFrom } from "./guest";
import { hugeMappedMiB, layerTargets, setCapabilities, statusOf, waitMigration, type SnapshotSample, type TakeContext } from "./methods";

const WRITER = path.join(import.meta.dirname, "gate-writer.pl");
const GATE_WAIT_MS = 120_000;

/** Whether this QEMU can be gated: its setup flush happens without the BQL (QEMU < 9). */
export function gateSupported(major: number): boolean {
  return major < 9;
}

/** True once one of QEMU's threads is blocked writing into a pipe: the migration thread at the gate. */
async function blockedInPipeWrite(pid: number): Promise<boolean> {
  for (const tid of await readdir(`/proc/${pid}/task`).catch(() => [] as string[])) {
    const wchan = await readFile(`/proc/${pid}/task/${tid}/wchan`, "utf8").catch(() => "");
    if (/pipe_write$/.test(wchan.trim())) return true;
  }
  return false;
}

/** The controller's side of the writer's control socket: its first line, "go", and its last line. */
async function controlSocket(sockPath: string): Promise<{ first: Promise<string>; last: Promise<string>; go(): void; close(): void }> {
  let conn: net.Socket | undefined;
  let resolveFirst!: (s: string) => void;
  let resolveLast!: (s: string) => void;
  const first = new Promise<string>((r) => (resolveFirst = r));
  const last = new Promise<string>((r) => (resolveLast = r));
  const server = net.createServer((c) => {
    server.close();
    conn = c;
    let buf = "";
    c.setEncoding("utf8");
    c.on("data", (d: string) => {
      buf += d;
      const lines = buf.split("\n").filter(Boolean);
      if (lines[0]) resolveFirst(lines[0]);
      if (lines.length > 1 || (lines[0] && !/^(gated|open)$/.test(lines[0]))) resolveLast(lines[lines.length - 1]);
    });
    c.on("close", () => resolveLast(buf.split("\n").filter(Boolean).pop() ?? "closed"));
    c.on("error", () => resolveLast("control socket error"));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(sockPath, resolve);
  });
  return { first, last, go: () => conn?.write("go\n"), close: () => server.close() };
}

async function gatedSnapshot(ctx: TakeContext): Promise<SnapshotSample> {
  const { qmp, events, vm } = ctx.bvm;
  if (!gateSupported(qmp.greeting.version.qemu.major)) throw new Error("QEMU ≥ 9 flushes its migration setup under the BQL: the gate cannot be used");
  await setCapabilities(qmp, { "background-snapshot": true, events: true });
  const file = path.join(ctx.dir, `vmstate-${ctx.ordinal}.bin`);
  const ctlPath = path.join(ctx.dir, `gate-${ctx.ordinal}.sock`);
  const ctl = await controlSocket(ctlPath);
  const disks = (await layerTargets(qmp, ctx.dir, ctx.ordinal)).map((t) => ({ node: t.node, name: `bench-${ctx.ordinal}` }));
  const hugeBefore = await hugeMappedMiB(vm.pid);
  const from = events.length;
  const done = waitMigration(qmp, ["completed", "failed"], 600_000);
  const started = performance.now();
  try {
    await qmp.migrate(`exec:perl ${WRITER} ${ctlPath} ${file}`);
    const gate = await ctl.first;
    if (gate !== "gated") {
      await done;
      return { ok: false, error: "the writer lost the race (QEMU wrote before the gate closed): a RAM-only stream, discarded" };
    }
    const walkStarted = performance.now();
    const deadline = walkStarted + GATE_WAIT_MS;
    while (!(await blockedInPipeWrite(vm.pid)) && performance.now() < deadline) await new Promise((r) => setTimeout(r, 1));
    const walkMs = performance.now() - walkStarted;
    const r = await layerAndStream(qmp, { disks, stop: true });
    ctl.go();
    const failed = r.stopError ?? r.transactionError;
    if (failed) throw failed;
    const end = await done;
    const last = await ctl.last;
    if (statusOf(end) !== "completed") throw new Error(`migration ${statusOf(end)}`);
    const bytes = Number(/^done (\d+)$/.exec(last)?.[1] ?? Number.NaN);
    const c = await recollapseGuestMemory(vm.pid);
    const p = pauseFrom(events, from);
    const active = migrationEventUs(events, from, "active");
    const info = await qmp.queryMigrate();
    return {
      ok: true,
      ...p,
      qemuDowntimeMs: info.downtime,
      setupMs: info["setup-time"],
      totalMs: performance.now() - started,
      bytes: Number.isFinite(bytes) ? bytes : undefined,
      collapseMs: c.ms,
      note: `RAM walk outside the pause: ${Math.round(walkMs)} ms; collapse ${c.scope ?? "none"} ${Math.round(c.collapsedBytes / 1024 ** 2)} MiB`,
      // Our commands + the end of QEMU's setup (STOP → active), then device state + write protection + resume.
      breakdown: active && p.stopUs && p.resumeUs ? { commandsMs: (active - p.stopUs) / 1000, setupMs: 0, deviceMs: (p.resumeUs - active) / 1000 } : undefined,
      hugeMappedMiB: hugeBefore,
    };
  } finally {
    ctl.close();
    await rm(file, { force: true });
  }
}

/** One gated snapshot; failures are samples (ok: false) like the other methods' (takeBare). */
export async function takeGated(ctx: TakeContext): Promise<SnapshotSample> {
  try {
    return await gatedSnapshot(ctx);
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
}
