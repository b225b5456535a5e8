// The vmstate sink outlives the dashboard (QEMU.md §2: on QEMU 7.2 a background snapshot whose reader
// dies leaves the guest frozen for good). A stand-in dashboard process (fixtures/dashboard-stand-in.ts,
// the production runSnapshot/VmstateSink code) is ended mid-way, as a crash, a restart or a Ctrl-C would
// end it, and then:
//   - with real QEMU (a guest-kit VM, 256 MiB memfd RAM, 64 MiB of it dirtied: the stream takes seconds),
//     the dashboard SIGKILLed: QEMU still reaches MIGRATION completed, the guest keeps making progress, the
//     sink's status file says the dashboard went away mid-stream and the sink went on writing a complete
//     vmstate, the sink exits, and the crash recovery of a restarted dashboard COMPLETES the job with
//     QEMU's figures (docs/reliability.md: "completed there → completed here");
//   - with a scripted QEMU stand-in holding the stream open (so "still streaming" is not a race), the
//     dashboard ended by a Ctrl-C (SIGINT to its whole process group, the sink included): the
//     orphaned sink keeps accepting every byte, recovery follows the job while it streams and, once the
//     stream is over, fails it — the stream is not the VM's migration (QEMU's own figures do not match
//     it), so nothing posing as a snapshot is kept;
//   - killed before QEMU connected: the sink gives up within seconds, removing its file and socket.
// (Killed while QEMU waits at the RAM-walk gate: ram-walk-gate.qemu.test.ts.)
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { db } from "../../lib/db/client";
import { logger } from "../../lib/logger";
import { connectQmp, type QmpClient } from "../../lib/qmp";
import { planArtifacts } from "../../lib/snapshots/artifacts";
import { vmDirName } from "../../lib/snapshots/jobs";
import { recoverInterruptedSnapshots, waitForRecoveryTrackers } from "../../lib/snapshots/recovery";
import { ORPHAN_CONNECT_GRACE_MS, type SinkStatus } from "../../lib/snapshots/sink-process";
import type { SnapshotStatusName } from "../../lib/snapshots/state-machine";
import { sinkStatusPathOf } from "../../lib/snapshots/vmstate-sink";
import { useTestDatabase } from "../support/db";
import { startGuestKitVm } from "../support/guest-kit";
import { expectGuestAdvances } from "../support/guest-progress";
import { disposeAllVms, type TestVm } from "../support/qemu";
import { alive, until } from "../support/wait";
import { seedLocalHost } from "../support/local-host";
import { killStandIns, startDashboard } from "./fixtures/stand-in-dashboard";
import { expectSinkGaveUp, fakeVmstate } from "./fixtures/sink-fixtures";

useTestDatabase();
const log = logger.child({ test: "sink-survives-dashboard" });

let root: string;
let sinkDir: string;
let vm: TestVm;
let host: { id: string; snapshotDir: string };
let vmRow: { id: string; name: string };
let qmp: QmpClient | undefined;
const sinkPids: number[] = [];

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), "snapfleet-sd-"));
  sinkDir = path.join(root, "sock");
  mkdirSync(sinkDir, { mode: 0o700 });
  vm = await startGuestKitVm({ name: "sd", memoryMiB: 256, memoryBackend: "memfd", dirtyMiB: 64, diskCounter: false });
  const seeded = await seedLocalHost(root, [vm]);
  host = seeded.host;
  vmRow = seeded.vms[0]!;
});

afterAll(async () => {
  killStandIns();
  for (const pid of sinkPids) if (alive(pid)) process.kill(pid, "SIGKILL");
  await qmp?.close();
  await disposeAllVms();
  await rm(root, { recursive: true, force: true });
});

async function inFlightJob(status: SnapshotStatusName) {
  const row = await db().snapshot.create({
    data: {
      vmId: vmRow.id,
      hostId: host.id,
      mode: "ram_only",
      status,
      history: { create: [{ status: "queued" }, { status }] },
    },
  });
  const targetDir = path.join(host.snapshotDir, vmDirName(vmRow), row.id);
  const vmstate = path.join(targetDir, "vmstate.bin");
  // The ledger a job records before its run creates anything (execute-job.ts onPlan).
  const artifacts = planArtifacts({
    targetDir,
    vmstate: { file: vmstate, status: sinkStatusPathOf(vmstate) },
    disks: [],
    snapshotId: row.id,
  });
  await db().snapshot.update({ where: { id: row.id }, data: { artifacts } });
  return { id: row.id, vmstate, statusFile: sinkStatusPathOf(vmstate) };
}

function readStatus(file: string): SinkStatus | undefined {
  try {
    return JSON.parse(readFileSync(file, "utf8")) as SinkStatus;
  } catch {
    return undefined;
  }
}

async function finishedStatus(file: string, timeoutMs = 60_000): Promise<SinkStatus> {
  return until(
    () => {
      const s = readStatus(file);
      return s?.state === "finished" ? s : undefined;
    },
    `the sink's status file to say finished (${file})`,
    timeoutMs,
  );
}

/** A stand-in dashboard that opened the job's vmstate sink: the sink's socket and process (killed in afterAll). */
async function dashboardWithSink(job: { id: string; vmstate: string }) {
  const dashboard = startDashboard({ mode: "sink", filePath: job.vmstate, sinkDir, name: job.id });
  const opened = (await dashboard.next((l) => typeof l.socketPath === "string")) as { socketPath: string; pid: number };
  sinkPids.push(opened.pid);
  return { dashboard, opened };
}

async function jobRow(id: string) {
  return db().snapshot.findUniqueOrThrow({ where: { id } });
}

/** Resolves once the kernel took every byte (the sink keeps reading), rejects on any socket error. */
function writeAll(s: net.Socket, data: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    s.once("error", reject);
    s.write(data, (err) => (err ? reject(err) : resolve()));
  });
}

describe("the vmstate sink outlives the dashboard", () => {
  it("dashboard SIGKILLed mid-stream: QEMU completes, the guest keeps running, the sink finishes the file, recovery completes the job", async () => {
    const job = await inFlightJob("active");
    const dashboard = startDashboard({
      mode: "snapshot",
      qmpSocket: vm.qmpSocket,
      snapshotRoot: host.snapshotDir,
      vmDirName: vmDirName(vmRow),
      snapshotId: job.id,
      sinkDir,
    });
    await dashboard.next((l) => l.status === "active");
    const streaming = readStatus(job.statusFile);
    expect(streaming).toMatchObject({ state: "streaming", filePath: job.vmstate });
    sinkPids.push(streaming!.pid);
    await dashboard.kill();

    // The monitor is free again (its one client died): QEMU finishes the snapshot into the sink.
    qmp = await connectQmp({ kind: "unix", path: vm.qmpSocket });
    const info = await until(async () => {
      const i = await qmp!.queryMigrate();
      return i.status === "active" || i.status === "setup" ? undefined : i;
    }, "QEMU to end the migration");
    expect(info.status).toBe("completed");
    expect((await qmp.queryStatus()).status).toBe("running");
    await expectGuestAdvances(vm);

    const done = await finishedStatus(job.statusFile);
    expect(done.dashboardGoneAt).toBeTruthy();
    // Mid-stream: the dashboard went away after QEMU had sent something and before it had sent everything.
    expect(done.bytesAtDashboardGone).toBeGreaterThan(0);
    expect(done.result!.bytesReceived).toBeGreaterThan(done.bytesAtDashboardGone!);
    expect(done.result).toMatchObject({ connected: true, complete: true });
    expect(done.result!.bytesWritten).toBe(done.result!.bytesReceived);
    expect(done.result!.writeError).toBeUndefined();
    expect(existsSync(job.vmstate)).toBe(true);
    await until(() => (alive(done.pid) ? undefined : true), "the sink process to exit", 5_000);
    expect(existsSync(path.join(sinkDir, `${job.id}.sock`))).toBe(false);

    // A restarted dashboard's sweep: QEMU completed, the vmstate is complete → completed, with QEMU's figures.
    // (It talks to the VM through its own session: QEMU serves one monitor client.)
    await qmp.close();
    qmp = undefined;
    expect(await recoverInterruptedSnapshots(log)).toBe(1);
    const row = await jobRow(job.id);
    expect(row.status, row.errorMessage ?? "").toBe("completed");
    expect(row.errorMessage).toBeNull();
    expect(Number(row.sizeBytes)).toBe(done.result!.bytesWritten);
    expect(row.qemuDowntimeMs).not.toBeNull();
    expect(Number(row.ramTransferredBytes)).toBe(info.ram!.transferred);
    expect(row.files).toEqual([{ path: job.vmstate, role: "vmstate", sizeBytes: done.result!.bytesWritten }]);
    const last = await db().snapshotStatusChange.findFirst({ where: { snapshotId: job.id }, orderBy: { at: "desc" } });
    expect(last?.detail).toMatch(
      /QEMU completed the snapshot and its vmstate sink wrote all of it .*finalized by recovery/,
    );
    expect(existsSync(job.vmstate)).toBe(true);
    expect(existsSync(job.statusFile)).toBe(false);
    // A figure for docs/reliability.md: how QEMU's RAM count relates to the stream the sink received.
    log.info(
      { ramTransferred: info.ram!.transferred, streamBytes: done.result!.bytesReceived },
      "stream vs ram.transferred",
    );
  });

  it("dashboard Ctrl-C'd (SIGINT to its whole group) mid-stream: the sink reads on; recovery follows the job until the stream ends, then fails it (not QEMU's migration)", async () => {
    const job = await inFlightJob("active");
    const { dashboard, opened } = await dashboardWithSink(job);
    const data = fakeVmstate(12 * 1024 * 1024);
    const qemu = net.connect(opened.socketPath);
    await new Promise<void>((resolve, reject) => qemu.once("connect", resolve).once("error", reject));
    await writeAll(qemu, data.subarray(0, 2 * 1024 * 1024));
    await until(() => (readStatus(job.statusFile)?.state === "streaming" ? true : undefined), "state streaming");

    await dashboard.interrupt();
    const orphaned = await until(() => {
      const s = readStatus(job.statusFile);
      return s?.dashboardGoneAt ? s : undefined;
    }, "the sink to notice the dashboard is gone");
    expect(orphaned.state).toBe("streaming");
    // The sink goes on writing: the next dashboard decides what is kept.
    expect(existsSync(job.vmstate)).toBe(true);
    await writeAll(qemu, data.subarray(2 * 1024 * 1024, 10 * 1024 * 1024));

    // Still streaming: recovery follows it (holding its job lock), nothing is settled yet.
    expect(await recoverInterruptedSnapshots(log, { pollMs: 100 })).toBe(0);
    expect((await jobRow(job.id)).status).toBe("active");
    expect(await recoverInterruptedSnapshots(log, { pollMs: 100 })).toBe(0); // followed once, not twice
    expect(alive(opened.pid)).toBe(true);

    await writeAll(qemu, data.subarray(10 * 1024 * 1024));
    qemu.end();
    const done = await finishedStatus(job.statusFile, 10_000);
    expect(done.result).toMatchObject({ connected: true, complete: true, bytesReceived: data.length });
    await until(() => (alive(opened.pid) ? undefined : true), "the sink process to exit", 5_000);

    await waitForRecoveryTrackers();
    const row = await jobRow(job.id);
    expect(row.status).toBe("failed");
    expect(row.errorMessage).toMatch(
      /its vmstate sink kept reading QEMU's stream until QEMU closed it \([0-9.]+ MiB received before, 12\.0 MiB in all\)/,
    );
    expect(row.errorMessage).toMatch(/QEMU's last completed migration is not the one the sink received/);
    // The complete-looking file is not kept under a failed job: nothing poses as a snapshot.
    expect(existsSync(job.vmstate)).toBe(false);
    expect(existsSync(job.statusFile)).toBe(false);
  });

  it("dashboard SIGKILLed before QEMU connected: the sink gives up within seconds and leaves nothing", async () => {
    const job = await inFlightJob("setup");
    const { dashboard, opened } = await dashboardWithSink(job);
    expect(existsSync(job.vmstate)).toBe(true);
    await dashboard.kill();
    const done = await finishedStatus(job.statusFile, ORPHAN_CONNECT_GRACE_MS + 5_000);
    await expectSinkGaveUp(
      done.result,
      { ...opened, filePath: job.vmstate },
      "the dashboard went away before QEMU connected",
    );

    expect(await recoverInterruptedSnapshots(log)).toBe(1);
    const row = await jobRow(job.id);
    expect(row.status).toBe("failed");
    expect(row.errorMessage).toMatch(/QEMU never connected to the vmstate sink, so the guest's RAM was not touched/);
  });
});
