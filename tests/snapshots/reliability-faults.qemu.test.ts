// Fault injection (docs/reliability.md), the faults other files do not already cover, each asserting:
// the guest runs (or, where QEMU itself froze it, the VM says so), the job is final with a reason, no
// partial file poses as a snapshot, another VM's job is unaffected:
//   - the QMP socket cut mid-command (a proxy between the dashboard and QEMU that drops the connection
//     when the run's first query-migrate after `migrate` goes through it);
//   - PostgreSQL restarted mid-snapshot (a PostgreSQL this file owns: the shared test server is never
//     touched): the run finishes, its outcome is recorded once the database is back, the job lock is
//     taken again, and the realtime hub tells browsers to resync after its LISTEN gap;
//   - a dead run whose QEMU migration ended failed (the stream was cut): on QEMU < 8.1 the VM is marked
//     "frozen — restart required" (QEMU.md §2), on newer QEMU it is not — also when the failure hung
//     QEMU's monitor (a proxy that swallows query-migrate stands in for that);
//   - a job that stays in flight is force-failed; a guest Snapfleet left paused is resumed (operator
//     actions, lib level; the routes' rules are checked);
//   - a block job that stops making progress is cancelled and dismissed, not left running.
// Tiny OS-less guests (no guest kit): what is asserted is Snapfleet's side and QEMU's run state.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { matchRoute } from "../../lib/auth/route-rules";
import { createPrismaClient, db } from "../../lib/db/client";
import type { PrismaClient } from "../../lib/db/generated/client";
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from "../../lib/db/embedded-postgres";
import { applyMigrations } from "../../lib/db/migrate";
import { closeAllVmSessions, getVmSession } from "../../lib/fleet/sessions";
import { logger } from "../../lib/logger";
import { connectQmp } from "../../lib/qmp";
import { RealtimeHub, setHub } from "../../lib/realtime/hub";
import { planArtifacts } from "../../lib/snapshots/artifacts";
import { executeSnapshotJob } from "../../lib/snapshots/execute-job";
import { forceFailSnapshot } from "../../lib/snapshots/force-fail";
import { markGuestLeftPaused, resumeGuestLeftPaused } from "../../lib/snapshots/guest-attention";
import { vmDirName } from "../../lib/snapshots/jobs";
import { commitLayer, DiskMergeError } from "../../lib/snapshots/legacy-layers";
import { recoverInterruptedSnapshots } from "../../lib/snapshots/recovery";
import { sinkStatusPathOf } from "../../lib/snapshots/vmstate-sink";
import { useTestDatabase } from "../support/db";
import { freeTcpPort } from "../support/ports";
import { createOverlay, disposeAllVms, startVm, type TestVm } from "../support/qemu";
import { until } from "../support/wait";

useTestDatabase();
const log = logger.child({ test: "reliability-faults" });

let root: string;
let hostId: string;
let snapDir: string;
const vms: Record<string, { vm: TestVm; id: string }> = {};

async function addVm(key: string, endpoint?: string): Promise<void> {
  const vm = await startVm({ name: `rf-${key}`, memoryMiB: 64 });
  // The QEMU version as discovery records it (recovery judges a monitor that no longer answers by it).
  const q = await connectQmp({ kind: "unix", path: vm.qmpSocket });
  const { major, minor, micro } = q.greeting.version.qemu;
  await q.close();
  const row = await db().vm.create({
    data: {
      hostId,
      name: vm.name,
      endpoint: endpoint ?? vm.qmpSocket,
      state: "running",
      bgSnapshotSupported: true,
      qemuVersion: `${major}.${minor}.${micro}`,
    },
  });
  vms[key] = { vm, id: row.id };
}

beforeAll(async () => {
  root = mkdtempSync(path.join(os.tmpdir(), "snapfleet-rf-"));
  snapDir = path.join(root, "snaps");
  mkdirSync(snapDir);
  const host = await db().host.create({
    data: { name: "local", kind: "local", socketDir: root, snapshotDir: snapDir },
  });
  hostId = host.id;
});

afterAll(async () => {
  await closeAllVmSessions();
  await disposeAllVms();
  await rm(root, { recursive: true, force: true });
});

async function queuedJob(vmId: string, mode: "live" | "ram_only" = "live"): Promise<string> {
  const row = await db().snapshot.create({
    data: { vmId, hostId, mode, status: "queued", history: { create: { status: "queued" } } },
  });
  return row.id;
}

async function runState(socket: string, commandTimeoutMs?: number): Promise<string> {
  const q = await connectQmp({ kind: "unix", path: socket }, { commandTimeoutMs });
  try {
    return (await q.queryStatus()).status;
  } finally {
    await q.close();
  }
}

/**
 * A unix-socket proxy to QEMU's monitor that cuts the first connection when a command matching `cutOn`
 * passes after `armOn`; commands matching `swallow` are never passed on (a monitor that stopped answering).
 */
function qmpProxy(target: string, listenPath: string, armOn: RegExp, cutOn: RegExp, opts: { swallow?: RegExp } = {}) {
  let cut = false;
  let armed = false;
  const server = net.createServer((client) => {
    const upstream = net.connect(target);
    upstream.pipe(client);
    client.on("data", (chunk) => {
      const text = chunk.toString("utf8");
      if (opts.swallow?.test(text)) return;
      if (!cut && armOn.test(text)) armed = true;
      if (!cut && armed && cutOn.test(text)) {
        cut = true;
        client.destroy();
        upstream.destroy();
        return;
      }
      upstream.write(chunk);
    });
    client.on("error", () => upstream.destroy());
    upstream.on("error", () => client.destroy());
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  });
  server.listen(listenPath);
  return {
    server,
    wasCut: () => cut,
    /** For a proxy made before its VM: connections from now on go to `to`. */
    retarget: (to: string) => void (target = to),
  };
}

/**
 * A dead run of a ram-only snapshot (row `active`, its sink gone without a result) whose QEMU migration
 * really ended failed: its stream went to a reader that hangs up at once.
 */
async function deadRunWithCutStream({ id: vmId, vm }: { id: string; vm: { name: string; qmpSocket: string } }) {
  const row = await db().snapshot.create({
    data: {
      vmId,
      hostId,
      mode: "ram_only",
      status: "active",
      history: { create: [{ status: "queued" }, { status: "active" }] },
    },
  });
  const targetDir = path.join(snapDir, vmDirName({ id: vmId, name: vm.name }), row.id);
  mkdirSync(targetDir, { recursive: true });
  const vmstate = path.join(targetDir, "vmstate.bin");
  writeFileSync(vmstate, "partial");
  await db().snapshot.update({
    where: { id: row.id },
    data: {
      artifacts: planArtifacts({
        targetDir,
        vmstate: { file: vmstate, status: sinkStatusPathOf(vmstate) },
        disks: [],
        snapshotId: row.id,
      }),
    },
  });
  // The dead run's sink: connected, then gone without a result (SIGKILLed with the dashboard's cgroup).
  writeFileSync(
    sinkStatusPathOf(vmstate),
    JSON.stringify({
      version: 1,
      pid: 2 ** 22 + 1,
      filePath: vmstate,
      state: "streaming",
      startedAt: new Date().toISOString(),
    }),
  );
  const cutter = net.createServer((s) => s.destroy());
  const cutPath = path.join(root, `cut-${row.id}.sock`);
  await new Promise<void>((r) => cutter.listen(cutPath, () => r()));
  const q = await connectQmp({ kind: "unix", path: vm.qmpSocket });
  try {
    await q.migrateSetCapabilities([
      { capability: "background-snapshot", state: true },
      { capability: "events", state: true },
    ]);
    // The event, not query-migrate: on QEMU 7.2 the failure can hang the main loop, and the monitor with
    // it (QEMU.md §2); the migration thread still sends the event.
    const failed = q.waitForEvent("MIGRATION", {
      predicate: (e) => (e.data as { status?: string }).status === "failed",
      timeoutMs: 30_000,
    });
    await q.migrate(`unix:${cutPath}`);
    await failed;
    return { row, vmstate, version: q.greeting.version.qemu };
  } finally {
    await q.close();
    cutter.close();
  }
}

describe("faults", () => {
  it("QMP socket cut mid-command: the job fails with the reason, the guest runs, no vmstate is left; another VM's job completes", async () => {
    const proxyPath = path.join(root, "proxy.sock");
    await addVm("cut", proxyPath);
    await addVm("other");
    const proxy = qmpProxy(
      vms.cut!.vm.qmpSocket,
      proxyPath,
      /"execute":\s*"migrate"\s*[,}]/,
      /"execute":\s*"query-migrate"/,
    );
    try {
      const cutJob = await queuedJob(vms.cut!.id);
      const otherJob = await queuedJob(vms.other!.id);
      const [a, b] = await Promise.all([
        executeSnapshotJob(cutJob, { log, pollIntervalMs: 100 }),
        executeSnapshotJob(otherJob, { log, pollIntervalMs: 100 }),
      ]);
      expect(proxy.wasCut()).toBe(true);
      expect(a?.status).toBe("failed");
      expect(a?.error?.class).toBe("qemu-exited");
      expect(a?.error?.message).toMatch(/monitor closed/);
      expect(b?.status).toBe("completed");
      // The guest runs (QEMU ≥ 9: the run resumed it through a new session), and nothing marks it.
      await closeAllVmSessions();
      // QEMU's monitor serves one client and accepts the next once it has seen the last one close, which
      // on a loaded machine can take a while after the cut: ask until it answers.
      expect(
        await until(
          () => runState(vms.cut!.vm.qmpSocket, 5_000).catch(() => undefined),
          "the cut VM's monitor answers",
          60_000,
        ),
      ).toBe("running");
      const vm = await db().vm.findUniqueOrThrow({ where: { id: vms.cut!.id } });
      expect(vm.frozen).toBeNull();
      expect(vm.pausedBySnapfleet).toBeNull();
      // No partial file poses as a snapshot: the vmstate the sink finished was removed with the failed run.
      expect(
        existsSync(path.join(snapDir, vmDirName({ id: vms.cut!.id, name: vms.cut!.vm.name }), cutJob, "vmstate.bin")),
      ).toBe(false);
      const row = await db().snapshot.findUniqueOrThrow({ where: { id: cutJob } });
      expect(row.files).toEqual([]);
    } finally {
      proxy.server.close();
    }
  });

  it("PostgreSQL restarted mid-snapshot: the snapshot completes, its outcome is recorded, browsers are told to resync", async () => {
    await addVm("pg");
    const pgDir = mkdtempSync(path.join(os.tmpdir(), "snapfleet-rf-pg-"));
    const port = await freeTcpPort();
    let server: EmbeddedPostgresHandle = await startEmbeddedPostgres({ dataDir: pgDir, port, log: () => {} });
    const savedUrl = process.env.DATABASE_URL;
    const g = globalThis as { __snapfleetPrisma?: PrismaClient };
    const savedPrisma = g.__snapfleetPrisma;
    let prisma: PrismaClient | undefined;
    const hub = new RealtimeHub(log);
    const httpServer = http.createServer();
    let ws: WebSocket | undefined;
    try {
      await applyMigrations(server.connectionString);
      // This test's own database: everything below (rows, locks, LISTEN) lives on the PostgreSQL it restarts.
      process.env.DATABASE_URL = server.connectionString;
      prisma = createPrismaClient(server.connectionString);
      g.__snapfleetPrisma = prisma;
      const host = await db().host.create({
        data: { name: "pg-local", kind: "local", socketDir: root, snapshotDir: snapDir },
      });
      const vmRow = await db().vm.create({
        data: {
          hostId: host.id,
          name: vms.pg!.vm.name,
          endpoint: vms.pg!.vm.qmpSocket,
          state: "running",
          bgSnapshotSupported: true,
        },
      });
      const job = (
        await db().snapshot.create({
          data: {
            vmId: vmRow.id,
            hostId: host.id,
            mode: "live",
            status: "queued",
            history: { create: { status: "queued" } },
          },
        })
      ).id;

      await hub.start(server.connectionString);
      setHub(hub);
      httpServer.on("upgrade", (req, socket, head) =>
        hub.handleUpgrade(req, socket, head, { kind: "user", id: "u1", name: "test", role: "viewer" }),
      );
      await new Promise<void>((r) => httpServer.listen(0, "127.0.0.1", () => r()));
      const frames: Array<{ type: string; name?: string; payload?: { status?: string } }> = [];
      ws = new WebSocket(`ws://127.0.0.1:${(httpServer.address() as net.AddressInfo).port}/ws`);
      ws.on("message", (d) => frames.push(JSON.parse(String(d))));
      await new Promise((r) => ws!.once("open", r));
      ws.send(JSON.stringify({ type: "subscribe", topics: [`snapshot:${job}`] }));
      await until(() => frames.find((f) => f.type === "subscribed"), "subscribed");

      let restarted: Promise<void> | undefined;
      const result = await executeSnapshotJob(job, {
        log,
        pollIntervalMs: 100,
        afterStatus: (status) => {
          // Mid-snapshot, not awaited: the run goes on while PostgreSQL is down and comes back.
          if (status === "active" && !restarted) {
            restarted = (async () => {
              await server.stop();
              server = await startEmbeddedPostgres({ dataDir: pgDir, port, log: () => {} });
            })();
          }
        },
      });
      await restarted;
      expect(result?.status).toBe("completed");
      const row = await db().snapshot.findUniqueOrThrow({ where: { id: job } });
      expect(row.status).toBe("completed");
      const vmstate = (row.files as Array<{ role: string; path: string; sizeBytes: number }>).find(
        (f) => f.role === "vmstate",
      )!;
      expect(existsSync(vmstate.path)).toBe(true);
      expect(
        await runState(vms.pg!.vm.qmpSocket).catch(
          async () => (await (await getVmSession(vmRow.id)).queryStatus()).status,
        ),
      ).toBe("running");
      // The hub's LISTEN came back and said so; a browser re-reads the row (completed) on `resync`.
      await until(() => frames.find((f) => f.type === "resync"), "a resync frame after the LISTEN gap", 30_000);
      // Nothing of it is left in flight for recovery to misjudge.
      expect(await recoverInterruptedSnapshots(log)).toBe(0);
    } finally {
      ws?.close();
      httpServer.close();
      setHub(undefined);
      await hub.close();
      await closeAllVmSessions();
      await prisma?.$disconnect();
      g.__snapfleetPrisma = savedPrisma;
      process.env.DATABASE_URL = savedUrl;
      await server.stop().catch(() => undefined); // teardown: its directory is removed next either way
      await rm(pgDir, { recursive: true, force: true });
    }
  });

  it("a dead run's RAM stream that QEMU ended failed: the job fails; on QEMU < 8.1 the VM is marked frozen — restart required", async () => {
    await addVm("frozen");
    const { row, vmstate, version } = await deadRunWithCutStream(vms.frozen!);

    expect(await recoverInterruptedSnapshots(log)).toBe(1);
    const job = await db().snapshot.findUniqueOrThrow({ where: { id: row.id } });
    expect(job.status).toBe("failed");
    expect(job.errorClass).toBe("interrupted");
    expect(existsSync(sinkStatusPathOf(vmstate))).toBe(false);
    const vmRow = await db().vm.findUniqueOrThrow({ where: { id: row.vmId } });
    if (version.major < 8) {
      // Which of the two QEMU shows depends on whether a device was writing guest RAM when the stream broke.
      expect((vmRow.frozen as { reason: string }).reason).toMatch(
        /(migration ended failed|monitor stopped answering) .* restart the VM/,
      );
    } else {
      expect(vmRow.frozen).toBeNull();
    }
  });

  it("the same with a monitor the failure hung (QEMU < 8.1): marked frozen after a bounded wait; the vmstate goes without it", async () => {
    // A proxy that never passes query-migrate on: what QEMU 7.2 does when the failure blocked its main loop.
    const proxyPath = path.join(root, "hung.sock");
    const proxy = qmpProxy("", proxyPath, /$^/, /$^/, { swallow: /query-migrate/ });
    await addVm("hung", proxyPath);
    proxy.retarget(vms.hung!.vm.qmpSocket);
    const { row, vmstate, version } = await deadRunWithCutStream(vms.hung!);
    try {
      const started = performance.now();
      expect(await recoverInterruptedSnapshots(log)).toBe(1);
      const job = await db().snapshot.findUniqueOrThrow({ where: { id: row.id } });
      expect(job.status).toBe("failed");
      expect(existsSync(vmstate)).toBe(false);
      expect(existsSync(sinkStatusPathOf(vmstate))).toBe(false);
      const vmRow = await db().vm.findUniqueOrThrow({ where: { id: row.vmId } });
      if (version.major < 8) {
        expect((vmRow.frozen as { reason: string }).reason).toMatch(/monitor stopped answering .* restart the VM/);
        expect(performance.now() - started).toBeLessThan(20_000); // one bounded probe, not a timeout per command
      } else {
        expect(vmRow.frozen).toBeNull(); // newer QEMU: no probe, nothing frozen
      }
    } finally {
      proxy.server.close();
    }
  });

  it("operator actions: a job that stays in flight is force-failed; a guest Snapfleet left paused is resumed; both routes need an operator", async () => {
    const { id: vmId } = vms.other!;
    const stuck = await db().snapshot.create({
      data: {
        vmId,
        hostId,
        mode: "live",
        status: "setup",
        history: { create: [{ status: "queued" }, { status: "setup" }] },
      },
    });
    const failed = await forceFailSnapshot(stuck.id, { by: "alice", log });
    expect(failed.status).toBe("failed");
    expect(failed.error?.class).toBe("forced");
    expect(failed.error?.message).toMatch(/force-failed by alice while it was setup/);
    await expect(forceFailSnapshot(stuck.id)).rejects.toThrow(/already failed/);

    await expect(resumeGuestLeftPaused(vmId)).rejects.toThrow(/did not leave VM .* paused/);
    const qmp = await getVmSession(vmId);
    await qmp.stop();
    await markGuestLeftPaused(vmId, stuck.id, "test: resuming failed");
    const json = await resumeGuestLeftPaused(vmId, log);
    expect(json.pausedBySnapfleet).toBeNull();
    expect((await qmp.queryStatus()).status).toBe("running");

    expect(matchRoute("/api/snapshots/00000000-0000-0000-0000-000000000000/force-fail")?.rule.methods.POST).toEqual({
      access: "operator",
      action: "snapshot.force-fail",
    });
    expect(matchRoute("/api/vms/00000000-0000-0000-0000-000000000000/resume")?.rule.methods.POST).toEqual({
      access: "operator",
      action: "vm.resume",
    });
  });

  it("a block job that stops making progress is cancelled and dismissed, not left running", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "snapfleet-rf-bj-"));
    const base = path.join(dir, "base.qcow2");
    const top = path.join(dir, "top.qcow2");
    execFileSync("qemu-img", ["create", "-q", "-f", "qcow2", base, "64M"]);
    await createOverlay(base, top);
    execFileSync("qemu-io", ["-f", "qcow2", "-c", "write -P 0xab 0 60M", top], { stdio: "ignore" });
    const vm = await startVm({ name: "rf-bj", memoryMiB: 64, diskPaths: [top] });
    const qmp = await connectQmp({ kind: "unix", path: vm.qmpSocket });
    try {
      const started = Date.now();
      // The job is throttled (1 byte/s) and then paused as soon as it exists: it stops making progress,
      // as a job stuck on a hung NFS server would.
      const merging = commitLayer(qmp, {
        overlayPath: top,
        basePath: base,
        jobId: "sf-test-stall",
        speed: 1,
        stallMs: 1500,
        pollMs: 200,
      }).catch((e: unknown) => e);
      await until(
        async () =>
          (await qmp.execute<Array<{ device: string }>>("query-block-jobs")).some((j) => j.device === "sf-test-stall")
            ? true
            : undefined,
        "the job",
        10_000,
      );
      await qmp.execute("block-job-pause", { device: "sf-test-stall" });
      const err = await merging;
      expect(err).toBeInstanceOf(DiskMergeError);
      expect((err as Error).message).toMatch(/given up: the merge made no progress for [12] s/);
      expect(Date.now() - started).toBeLessThan(20_000);
      expect(await qmp.execute<unknown[]>("query-block-jobs")).toEqual([]);
      expect((await qmp.execute<Array<{ id: string }>>("query-jobs")).filter((j) => j.id === "sf-test-stall")).toEqual(
        [],
      );
    } finally {
      await qmp.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
