// The RAM-walk gate with real QEMU (lib/snapshots/ram-walk-gate.ts; QEMU < 9 only: that the plan never
// gates QEMU ≥ 9 is tests/bench-support/pause-strategy.test.ts's). A guest with resident RAM is
// snapshotted behind the gate: QEMU's migration setup (its RAM walk) happens while the guest runs, the
// guest's own checkers find the restored guest consistent. A writer made to start late makes the gate
// lose its race: that stream is discarded and the snapshot taken again the pipelined way, still
// consistent, with nothing left behind. And a dashboard killed while QEMU waits at the gate with the
// guest stopped: the gate opens, QEMU finishes and resumes the guest, and — nobody can tell whether the
// disks were taken in time — the writer drains that stream: no vmstate is kept.
import { randomUUID } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Host } from "../../lib/db/generated/client";
import { hostFilesFor } from "../../lib/fleet/host-files";
import { createLogger } from "../../lib/logger";
import { connectQmp, type QmpClient, type QmpEvent } from "../../lib/qmp";
import { explainPause } from "../../lib/snapshots/pause-steps";
import { runSnapshot, type RunSnapshotInput } from "../../lib/snapshots/run-snapshot";
import { ORPHAN_CONNECT_GRACE_MS, type SinkStatus } from "../../lib/snapshots/sink-process";
import { sinkStatusPathOf } from "../../lib/snapshots/vmstate-sink";
import { startGuestKitVm, type GuestKitOptions } from "../support/guest-kit";
import { expectGuestAdvances } from "../support/guest-progress";
import { disposeAllVms, type TestVm } from "../support/qemu";
import { expectRestoresConsistent } from "../support/restore";
import { alive, until } from "../support/wait";
import { killStandIns, startDashboard } from "./fixtures/stand-in-dashboard";

let work: string;
const clients: QmpClient[] = [];

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), "snapfleet-gate-"));
});

const sinkPids: number[] = [];

afterAll(async () => {
  killStandIns();
  for (const pid of sinkPids) if (alive(pid)) process.kill(pid, "SIGKILL");
  await Promise.all(clients.map((c) => c.close()));
  await disposeAllVms();
  await rm(work, { recursive: true, force: true });
});

async function boot(guest: GuestKitOptions): Promise<{ vm: TestVm; qmp: QmpClient; events: QmpEvent[] }> {
  const vm = await startGuestKitVm(guest);
  const qmp = await connectQmp({ kind: "unix", path: vm.qmpSocket }, { commandTimeoutMs: 120_000 });
  clients.push(qmp);
  const events: QmpEvent[] = [];
  qmp.on(["STOP", "RESUME", "MIGRATION"], (e) => events.push(e));
  return { vm, qmp, events };
}

function snapshot(qmp: QmpClient, name: string, extra: Partial<RunSnapshotInput> = {}) {
  return runSnapshot({
    qmp,
    snapshotId: randomUUID(),
    mode: "live",
    vmDirName: name,
    hostKind: "local",
    hostFiles: hostFilesFor({ kind: "local" } as Host),
    snapshotRoot: work,
    hooks: { onPlan: async () => {}, onStatus: async () => {} },
    ...extra,
  });
}

const at = (events: QmpEvent[], event: string, status?: string) =>
  events.find((e) => e.event === event && (status === undefined || (e.data as { status?: string }).status === status))
    ?.timeUs;

describe("the RAM-walk gate (QEMU 7.2, the default QEMU of the test run)", () => {
  it("a guest with resident RAM: QEMU walks it while the guest runs, and the restored guest is consistent", async () => {
    // 600 MiB resident in 4 KiB pages (memfd: shared memory has no transparent huge pages here), so QEMU's
    // walk outlasts the writer's start even on a loaded machine: the gate holds QEMU every time.
    const guest: GuestKitOptions = {
      name: "gate-big",
      memoryMiB: 768,
      memoryBackend: "memfd",
      fillMiB: 600,
      dirtyMiB: 16,
      diskCounter: true,
      diskIntervalMs: 20,
    };
    const { qmp, events } = await boot(guest);
    const { plan, text } = await explainPause(qmp, "local");
    expect(plan.sequence).toBe("gated");
    expect(text).toMatch(/pauses the guest only once it is done/);

    const lines: Array<{ msg: string; pauseMs?: number; timeline?: string }> = [];
    const log = createLogger({ write: (l: string) => void lines.push(JSON.parse(l)) }, "info");
    const result = await snapshot(qmp, "gate-big", { log });
    expect(result.error).toBeUndefined();
    expect(result.status).toBe("completed");
    expect(result.detail).toMatch(/QEMU's RAM walk ran before the pause \(gated\)/);
    // The walk is QEMU's setup: it began (MIGRATION setup) before the guest was stopped, and the guest
    // was stopped before QEMU went active (device state saved with the guest stopped by us).
    const setup = at(events, "MIGRATION", "setup")!;
    const stop = at(events, "STOP")!;
    const active = at(events, "MIGRATION", "active")!;
    expect(setup).toBeLessThan(stop);
    expect(stop).toBeLessThan(active);
    expect(result.metrics.guestPauseMs).toBeGreaterThan(0);
    // The log says where the pause went, step by step, in ms after the STOP (an operator's first question
    // about a long pause): our steps at the gate, QEMU's events, in the order they happened.
    const timeline = lines.find((l) => l.msg === "pause timeline (ms after STOP)");
    expect(timeline?.pauseMs).toBe(result.metrics.guestPauseMs);
    const steps = timeline!.timeline!.split(", ").map((s) => s.replace(/ -?[\d.]+$/, ""));
    expect(steps).toEqual(
      expect.arrayContaining(["migration setup", "at gate", "stop sent", "STOP", "disks taken", "RESUME"]),
    );
    expect(steps.indexOf("at gate")).toBeLessThan(steps.indexOf("STOP"));
    expect(steps.indexOf("STOP")).toBeLessThan(steps.indexOf("disks taken"));
    expect(steps.indexOf("disks taken")).toBeLessThan(steps.indexOf("RESUME"));

    await expectRestoresConsistent(guest, result.files, { work, name: "gate-big-restore" });
  }, 600_000);

  it("a gate that loses its race: QEMU's own stream is discarded, the snapshot is taken again the pipelined way and restores consistent", async () => {
    // A writer that starts late, as on a host too loaded to run it in time: QEMU's environment makes perl
    // load a module that sleeps 300 ms before the writer's first line runs; QEMU's walk over 160 MiB ends long before.
    const lib = path.join(work, "slow-perl");
    await mkdir(lib, { recursive: true });
    await writeFile(
      path.join(lib, "SnapfleetSlowStart.pm"),
      "package SnapfleetSlowStart; select(undef, undef, undef, 0.3); 1;\n",
    );
    const guest: GuestKitOptions = {
      name: "gate-small",
      memoryMiB: 160,
      dirtyMiB: 16,
      diskCounter: true,
      diskIntervalMs: 20,
      env: { PERL5LIB: lib, PERL5OPT: "-MSnapfleetSlowStart" },
    };
    const { vm, qmp, events } = await boot(guest);
    await vm.waitForSerial(/^tick 3 [^\n]*\n/m, 30_000);
    const result = await snapshot(qmp, "gate-small", { ramWalkGate: "always" });
    expect(result.error).toBeUndefined();
    expect(result.detail).toMatch(/RAM walk ended before the gate closed: taken again the pipelined way/);
    // Two streams: the discarded one (QEMU stopped the guest itself, after its setup) and the real one.
    expect(
      events.filter((e) => e.event === "MIGRATION" && (e.data as { status?: string }).status === "completed"),
    ).toHaveLength(2);
    const vmstate = result.files.find((f) => f.role === "vmstate")!;
    // One vmstate, no status file, no partial file of the discarded stream.
    expect(await readdir(path.dirname(vmstate.path))).toEqual(["vmstate.bin"]);
    await expectRestoresConsistent(guest, result.files, { work, name: "gate-small-restore" });
  }, 300_000);

  it("dashboard SIGKILLed with QEMU held at the gate and the guest stopped: QEMU goes on and resumes the guest, no vmstate is kept", async () => {
    // Resident in 4 KiB pages, as above: the gate holds QEMU every time.
    const vm = await startGuestKitVm({
      name: "gate-crash",
      memoryMiB: 768,
      memoryBackend: "memfd",
      fillMiB: 600,
      dirtyMiB: 16,
    });
    const sinkDir = path.join(work, "crash-sock");
    await mkdir(sinkDir, { mode: 0o700 });
    const vmstate = path.join(work, "gate-crash", "vmstate.bin");
    // The stand-in runs the gated pause with the production pieces and stops there, the gate closed.
    const dashboard = startDashboard({
      mode: "gate",
      qmpSocket: vm.qmpSocket,
      filePath: vmstate,
      sinkDir,
      name: "gate-crash",
    });
    const held = (await dashboard.next((l) => l.stopped !== undefined)) as {
      stopped: boolean;
      runState: string;
      sinkPid: number;
    };
    sinkPids.push(held.sinkPid);
    expect(held).toMatchObject({ stopped: true, runState: "paused" });
    await dashboard.kill();

    const qmp = await connectQmp({ kind: "unix", path: vm.qmpSocket }); // the monitor is free again
    clients.push(qmp);
    await until(
      async () => ((await qmp.queryMigrate()).status === "completed" ? true : undefined),
      "QEMU's migration to complete",
      60_000,
    );
    expect((await qmp.queryStatus()).status).toBe("running");
    await expectGuestAdvances(vm);
    // The sink never got the stream: it gives up and leaves nothing.
    const statusFile = sinkStatusPathOf(vmstate);
    const done = await until(
      () => {
        const st = existsSync(statusFile) ? (JSON.parse(readFileSync(statusFile, "utf8")) as SinkStatus) : undefined;
        return st?.state === "finished" ? st : undefined;
      },
      "the sink to give up",
      ORPHAN_CONNECT_GRACE_MS + 5_000,
    );
    expect(done.result).toMatchObject({ connected: false, complete: false });
    expect(existsSync(vmstate)).toBe(false);
  }, 120_000);
});
