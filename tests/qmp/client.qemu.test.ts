// The client against real QEMU 7.2 VMs (tests/support/qemu.ts; no guest OS — the VMs idle in firmware):
// negotiation, typed wrappers, errors, events and their order, a background snapshot driven end to end,
// disk snapshots, internal snapshot jobs, migrate_cancel of a plain migration, monitor busy, a VM that
// dies under us. Each test closes its client and checks nothing stays registered.
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  QmpClient,
  QmpCommandError,
  QmpConnectError,
  QmpDisconnectedError,
  QmpMonitorBusyError,
  QmpPool,
  blockdevSnapshotSync,
  connectQmp,
  type MigrationEventData,
  type QmpEndpoint,
  type QmpEvent,
  type QmpLogger,
} from "../../lib/qmp";
import { disposeAllVms, startVm, type TestVm } from "../support/qemu";
import { startMigrationSink } from "./migration-sink";

afterAll(disposeAllVms);

const unix = (vm: TestVm): QmpEndpoint => ({ kind: "unix", path: vm.qmpSocket });

/** Connects, runs `fn`, always closes, and checks the client left nothing registered. */
async function withClient<T>(vm: TestVm, fn: (c: QmpClient) => Promise<T>, opts = {}): Promise<T> {
  const client = await connectQmp(unix(vm), opts);
  try {
    return await fn(client);
  } finally {
    await client.close();
    expect(client.runstate).toBe("closed");
    expect(client.listenerCount()).toBe(0);
    expect(client.pendingCount).toBe(0);
  }
}

describe("session basics", () => {
  let vm: TestVm;
  beforeAll(async () => {
    vm = await startVm({ name: "qmp-basics", memoryMiB: 128 });
  });

  it("reads the greeting, negotiates, and answers the query wrappers", async () => {
    await withClient(vm, async (c) => {
      expect(c.connected).toBe(true);
      expect(c.runstate).toBe("running");
      expect(c.greeting.version.qemu).toMatchObject({ major: 7, minor: 2 });
      expect(c.greeting.capabilities).toContain("oob");
      expect(await c.queryVersion()).toEqual({ qemu: c.greeting.version.qemu, package: c.greeting.version.package });
      expect(await c.queryStatus()).toMatchObject({ running: true, status: "running" });
      expect(await c.queryName()).toEqual({ name: "qmp-basics" });
      expect((await c.queryUuid()).UUID).toMatch(/^[0-9a-f-]{36}$/);
      expect((await c.queryMemorySizeSummary())["base-memory"]).toBe(128 * 1024 * 1024);
      expect(await c.queryMigrate()).toEqual({}); // no migration yet in this process (QEMU.md §1)
      const caps = await c.queryMigrateCapabilities();
      expect(caps).toContainEqual({ capability: "background-snapshot", state: false });
      expect(caps).toContainEqual({ capability: "events", state: false });
      expect(await c.queryJobs()).toEqual([]);
      expect(await c.humanMonitorCommand("info status")).toContain("VM status: running");
    });
  });

  it("lists block devices and nodes with QEMU's wire names", async () => {
    await withClient(vm, async (c) => {
      const blocks = await c.queryBlock();
      const vd0 = blocks.find((b) => b.qdev?.includes("vd0"));
      expect(vd0?.inserted).toMatchObject({ "node-name": "disk0", drv: "qcow2", ro: false, file: vm.disks[0]!.path });
      const nodes = await c.queryNamedBlockNodes({ flat: true });
      expect(nodes.map((n) => n["node-name"]).sort()).toEqual(["disk0", "disk0-file"]);
      expect(nodes.find((n) => n["node-name"] === "disk0")?.image).toMatchObject({
        format: "qcow2",
        "virtual-size": 64 * 1024 * 1024,
      });
    });
  });

  it("QEMU's errors become QmpCommandError with class and desc; the session survives", async () => {
    await withClient(vm, async (c) => {
      const notFound = await c.execute("no-such-command").catch((e: unknown) => e);
      expect(notFound).toBeInstanceOf(QmpCommandError);
      expect(notFound).toMatchObject({ errorClass: "CommandNotFound", command: "no-such-command" });
      expect((notFound as QmpCommandError).desc).toContain("no-such-command");
      await expect(c.jobDismiss("no-such-job")).rejects.toMatchObject({
        name: "QmpCommandError",
        errorClass: "GenericError",
      });
      await expect(c.migrateSetCapabilities([{ capability: "no-such-cap", state: true }])).rejects.toBeInstanceOf(
        QmpCommandError,
      );
      expect((await c.queryStatus()).running).toBe(true);
    });
  });

  it("events: a listener registered before `stop` has the STOP event when stop resolves", async () => {
    await withClient(vm, async (c) => {
      const seen: QmpEvent[] = [];
      c.on(["STOP", "RESUME"], (ev) => seen.push(ev));
      const resumed = c.waitForEvent("RESUME", { timeoutMs: 10_000 });
      const before = Date.now() * 1000;
      await c.stop();
      // QEMU sends STOP before the reply to stop (QEMU.md §6): dispatch in wire order means it is here.
      expect(seen.map((e) => e.event)).toEqual(["STOP"]);
      expect((await c.queryStatus()).status).toBe("paused");
      await c.cont();
      const resume = await resumed;
      const [stop] = seen;
      expect(stop!.timeUs).toBe(stop!.timestamp.seconds * 1e6 + stop!.timestamp.microseconds);
      // QEMU's wall-clock timestamps: after we sent stop (1 s slack for clock granularity) and ordered.
      expect(stop!.timeUs).toBeGreaterThan(before - 1e6);
      expect(resume.timeUs).toBeGreaterThanOrEqual(stop!.timeUs);
      expect(c.recentEvents.map((e) => e.event).slice(-2)).toEqual(["STOP", "RESUME"]);
    });
  });

  it("a second client gets QmpMonitorBusyError while the pool holds the session; the next one after release works", async () => {
    const pool = new QmpPool({ greetingTimeoutMs: 500 });
    try {
      const session = await pool.acquire(unix(vm));
      expect(await pool.acquire(unix(vm))).toBe(session);
      const started = Date.now();
      const err = await connectQmp(unix(vm), { greetingTimeoutMs: 500 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(QmpMonitorBusyError);
      expect((err as QmpMonitorBusyError).endpoint).toBe(`unix:${vm.qmpSocket}`);
      expect(Date.now() - started).toBeLessThan(5000);
      expect((await session.queryStatus()).running).toBe(true); // the holder is unaffected
      await pool.release(unix(vm));
      expect(session.connected).toBe(false);
    } finally {
      await pool.closeAll();
    }
    await withClient(vm, async (c) => expect((await c.queryStatus()).running).toBe(true));
  });

  it("logs QMP traffic at debug with --> and <-- through a pino child logger", async () => {
    const records: { level: number; vm?: string; endpoint?: string; msg: string }[] = [];
    const root = pino(
      { level: "debug", base: undefined },
      { write: (line: string) => void records.push(JSON.parse(line)) },
    );
    const logger: QmpLogger = root.child({ vm: "qmp-basics" }); // pino.Logger satisfies QmpLogger
    await withClient(vm, (c) => c.execute("human-monitor-command", { "command-line": "info status" }), { logger });
    const msgs = records.filter((r) => r.level === 20).map((r) => r.msg);
    expect(msgs).toContain('--> {"execute":"qmp_capabilities","id":"sf-1"}');
    // Commands that may carry secrets are logged without their arguments.
    expect(msgs).toContain('--> {"execute":"human-monitor-command","arguments":"[redacted]"}');
    expect(msgs.some((m) => m.startsWith('<-- {"return": "VM status: running'))).toBe(true);
    expect(records.every((r) => r.vm === "qmp-basics" && r.endpoint === `unix:${vm.qmpSocket}`)).toBe(true);
  });
});

describe("background snapshot, end to end through the client", () => {
  let vm: TestVm;
  beforeAll(async () => {
    vm = await startVm({ name: "qmp-bgsnap", memoryMiB: 128 });
  });

  it("capabilities → migrate → MIGRATION setup/active/completed + STOP/RESUME → query-migrate completed", async () => {
    const file = path.join(vm.dir, "vm.mig");
    const sink = await startMigrationSink(vm.dir, "mig", file);
    try {
      await withClient(vm, async (c) => {
        await c.migrateSetCapabilities([
          { capability: "background-snapshot", state: true },
          { capability: "events", state: true },
        ]);
        const caps = await c.queryMigrateCapabilities();
        expect(caps).toContainEqual({ capability: "background-snapshot", state: true });
        expect(caps).toContainEqual({ capability: "events", state: true });

        // Register everything before `migrate`: its events may precede its reply.
        const events: QmpEvent[] = [];
        c.on(["MIGRATION", "STOP", "RESUME"], (ev) => events.push(ev));
        const finished = c.waitForEvent("MIGRATION", {
          predicate: (ev) =>
            ["completed", "failed", "cancelled"].includes((ev.data as unknown as MigrationEventData).status),
          timeoutMs: 120_000,
        });
        const active = c.waitForEvent("MIGRATION", {
          predicate: (ev) => ev.data.status === "active",
          timeoutMs: 120_000,
        });
        const sentAt = Date.now() * 1000;
        await c.migrate(sink.uri);

        await active;
        const mid = await c.queryMigrate();
        expect(["active", "completed"]).toContain(mid.status);
        expect(mid["setup-time"]).toBeGreaterThanOrEqual(0);

        const last = await finished;
        expect(last.data.status).toBe("completed");
        const bytes = await sink.done;

        const migration = events.filter((e) => e.event === "MIGRATION").map((e) => e.data.status);
        expect(migration).toEqual(["setup", "active", "completed"]);
        const at = (name: string, status?: string) =>
          events.find((e) => e.event === name && (status === undefined || e.data.status === status))!;
        const [setup, act, done, stop, resume] = [
          at("MIGRATION", "setup"),
          at("MIGRATION", "active"),
          at("MIGRATION", "completed"),
          at("STOP"),
          at("RESUME"),
        ];
        expect(stop).toBeDefined();
        expect(resume).toBeDefined();
        // QEMU's own timestamps, in QEMU's order: setup ≤ active ≤ STOP ≤ RESUME ≤ completed.
        expect(setup.timeUs).toBeGreaterThan(sentAt - 1e6);
        expect(act.timeUs).toBeGreaterThanOrEqual(setup.timeUs);
        expect(stop.timeUs).toBeGreaterThanOrEqual(act.timeUs);
        expect(resume.timeUs).toBeGreaterThanOrEqual(stop.timeUs);
        expect(done.timeUs).toBeGreaterThanOrEqual(resume.timeUs);
        const guestPauseMs = (resume.timeUs - stop.timeUs) / 1000; // what we report as pause (QEMU.md §1)
        expect(guestPauseMs).toBeLessThan(5000);

        const info = await c.queryMigrate();
        expect(info.status).toBe("completed");
        expect(info.ram!.total).toBeGreaterThanOrEqual(128 * 1024 * 1024);
        expect(info.ram!.transferred).toBeGreaterThan(0);
        expect(info.ram!.remaining).toBe(0);
        expect(info["total-time"]).toBeGreaterThan(0);
        expect(info["setup-time"]).toBeGreaterThanOrEqual(0);
        expect(info.downtime).toBeGreaterThanOrEqual(0);
        expect(info["error-desc"]).toBeUndefined();
        expect((await c.queryStatus()).status).toBe("running"); // QEMU resumed the guest by itself

        const image = readFileSync(file);
        expect(image.length).toBe(bytes);
        expect(image.subarray(0, 4).toString("latin1")).toBe("QEVM");
        // A complete file ends with 0x00 0x06 <be32 len> {"page_size":…,"devices":[…]} (QEMU.md §3);
        // a truncated one does not.
        const tail = image.lastIndexOf(Buffer.from('{"page_size"'));
        expect(tail).toBeGreaterThan(6);
        expect([image[tail - 6], image[tail - 5]]).toEqual([0x00, 0x06]);
        expect(tail + image.readUInt32BE(tail - 4)).toBe(image.length);
        const description = JSON.parse(image.subarray(tail).toString("utf8"));
        expect(description.page_size).toBe(4096);
        expect(description.devices.length).toBeGreaterThan(0);
      });
    } finally {
      await sink.close();
    }
  });
});

describe("disk snapshot through transaction", () => {
  let vm: TestVm;
  beforeAll(async () => {
    vm = await startVm({ name: "qmp-txn", memoryMiB: 128 });
  });

  it("stop → transaction(blockdev-snapshot-sync) → cont puts an overlay on top of disk0", async () => {
    const overlay = path.join(vm.dir, "ov0.qcow2");
    await withClient(vm, async (c) => {
      await c.stop();
      await c.transaction([
        blockdevSnapshotSync({
          "node-name": "disk0",
          "snapshot-file": overlay,
          "snapshot-node-name": "ov0",
          format: "qcow2",
        }),
      ]);
      await c.cont();
      expect(existsSync(overlay)).toBe(true);
      const nodes = await c.queryNamedBlockNodes({ flat: true });
      expect(nodes.find((n) => n["node-name"] === "ov0")).toMatchObject({
        file: overlay,
        backing_file: vm.disks[0]!.path,
      });
      const vd0 = (await c.queryBlock()).find((b) => b.qdev?.includes("vd0"));
      expect(vd0?.inserted?.["node-name"]).toBe("ov0");
      // A failing action fails the whole transaction with QEMU's error.
      await expect(
        c.transaction([
          blockdevSnapshotSync({
            "node-name": "no-such-node",
            "snapshot-file": path.join(vm.dir, "x.qcow2"),
            format: "qcow2",
          }),
        ]),
      ).rejects.toBeInstanceOf(QmpCommandError);
    });
  });
});

describe("internal snapshot jobs", () => {
  let vm: TestVm;
  beforeAll(async () => {
    vm = await startVm({ name: "qmp-jobs", memoryMiB: 128 });
  });

  const concluded = (c: QmpClient, id: string) =>
    c.waitForEvent("JOB_STATUS_CHANGE", {
      predicate: (e) => e.data.id === id && e.data.status === "concluded",
      timeoutMs: 60_000,
    });

  it("snapshot-save → concluded → job-dismiss → snapshot-delete; failures only in query-jobs[].error", async () => {
    await withClient(vm, async (c) => {
      let done = concluded(c, "save0");
      await c.snapshotSave({ "job-id": "save0", tag: "snap1", vmstate: "disk0", devices: ["disk0"] });
      await done;
      expect(await c.queryJobs()).toEqual([
        expect.objectContaining({ id: "save0", type: "snapshot-save", status: "concluded" }),
      ]);
      expect((await c.queryJobs())[0]!.error).toBeUndefined();
      await c.jobDismiss("save0");
      expect(await c.queryJobs()).toEqual([]);
      const vd0 = (await c.queryBlock()).find((b) => b.qdev?.includes("vd0"));
      expect(vd0?.inserted?.image.snapshots?.map((s) => s.name)).toEqual(["snap1"]);

      done = concluded(c, "del0");
      await c.snapshotDelete({ "job-id": "del0", tag: "snap1", devices: ["disk0"] });
      await done;
      await c.jobDismiss("del0");
      const after = (await c.queryBlock()).find((b) => b.qdev?.includes("vd0"));
      expect(after?.inserted?.image.snapshots ?? []).toEqual([]);

      // A bad argument is accepted by the command and reported by the job (QEMU.md §5).
      done = concluded(c, "bad0");
      await c.snapshotSave({ "job-id": "bad0", tag: "x", vmstate: "no-such-node", devices: ["disk0"] });
      await done;
      const [bad] = await c.queryJobs();
      expect(bad).toMatchObject({ id: "bad0", status: "concluded" });
      expect(bad!.error).toEqual(expect.any(String));
      await c.jobDismiss("bad0");
    });
  });
});

describe("migrate_cancel of a plain (non-background) migration", () => {
  // Never on a background snapshot with QEMU 7.2: that freezes the guest (QEMU.md §2).
  let vm: TestVm;
  beforeAll(async () => {
    vm = await startVm({ name: "qmp-cancel", memoryMiB: 128 });
  });

  it("a throttled pre-copy migration is cancelled and the guest keeps running", async () => {
    const sink = await startMigrationSink(vm.dir, "discard");
    try {
      await withClient(vm, async (c) => {
        await c.migrateSetCapabilities([{ capability: "events", state: true }]);
        await c.migrateSetParameters({ "max-bandwidth": 4096 }); // bytes/s: never finishes on its own
        const active = c.waitForEvent("MIGRATION", { predicate: (e) => e.data.status === "active", timeoutMs: 30_000 });
        const cancelled = c.waitForEvent("MIGRATION", {
          predicate: (e) => e.data.status === "cancelled",
          timeoutMs: 30_000,
        });
        await c.migrate(sink.uri);
        await active;
        await c.migrateCancel();
        await cancelled;
        expect((await c.queryMigrate()).status).toBe("cancelled");
        expect(await c.queryStatus()).toMatchObject({ running: true, status: "running" });
        await sink.done; // QEMU closed its end
      });
    } finally {
      await sink.close();
    }
  });
});

describe("a VM that dies under the client", () => {
  it("SIGKILL → QmpDisconnectedError for pending work; reconnect → ECONNREFUSED (stale socket file)", async () => {
    const vm = await startVm({ name: "qmp-dies", memoryMiB: 64, disks: 0 });
    const client = await connectQmp(unix(vm));
    try {
      const lost: unknown[] = [];
      client.onDisconnect((r) => lost.push(r));
      const waiter = client.waitForEvent("RESUME");
      vm.kill("SIGKILL");
      const reason = await client.disconnected;
      expect(reason).toBeInstanceOf(QmpDisconnectedError);
      expect((reason as QmpDisconnectedError).byClient).toBe(false);
      await expect(waiter).rejects.toBe(reason);
      await expect(client.queryStatus()).rejects.toBeInstanceOf(QmpDisconnectedError);
      expect(lost).toEqual([reason]);
      await vm.exited;
      expect(existsSync(vm.qmpSocket)).toBe(true);
      await expect(connectQmp(unix(vm))).rejects.toMatchObject({ name: "QmpConnectError", code: "ECONNREFUSED" });
      expect(await connectQmp(unix(vm)).catch((e: unknown) => e)).toBeInstanceOf(QmpConnectError);
    } finally {
      await client.close();
      expect(client.listenerCount()).toBe(0);
      await vm.dispose();
    }
  });
});
