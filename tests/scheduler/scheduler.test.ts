// The scheduler against a real PostgreSQL, driven by a clock moved by hand and tick(): firing and
// nextRunAt across DST, targets resolved at fire time, missed runs, stagger, the busy policy, retries,
// run results and the failure flag, and retention after a successful run.
import { beforeEach, describe, expect, it } from "vitest";
import { db } from "../../lib/db/client";
import { logger } from "../../lib/logger";
import {
  createSchedule,
  getSchedule,
  listSchedules,
  previewRetention,
  updateSchedule,
} from "../../lib/scheduler/service";
import { SchedulerWorker } from "../../lib/scheduler/worker";
import { scheduleCreateSchema } from "../../lib/validations/schedule";
import { useTestDatabase } from "../support/db";
import { endSnapshots, manualClock, rowPort, seedHost, seedVms, type RecordingPort } from "./support";

useTestDatabase();
const log = logger.child({ test: "scheduler" });

let port: RecordingPort;
beforeEach(async () => {
  port = rowPort();
  await db().schedule.deleteMany();
  await db().snapshot.deleteMany();
  await db().vm.deleteMany();
  await db().host.deleteMany();
});

function worker(
  clock: ReturnType<typeof manualClock>,
  extra: Partial<ConstructorParameters<typeof SchedulerWorker>[0]> = {},
) {
  return new SchedulerWorker({
    port,
    log,
    clock,
    processId: "test",
    retry: { maxAttempts: 3, baseMs: 30_000, maxMs: 600_000, busyRecheckMs: 10_000 },
    ...extra,
  });
}

function schedule(input: Record<string, unknown>, now: Date) {
  return createSchedule(scheduleCreateSchema.parse({ mode: "ram-only", ...input }), now);
}

async function runsOf(scheduleId: string) {
  return db().scheduleRun.findMany({
    where: { scheduleId },
    orderBy: { scheduledFor: "asc" },
    include: { items: true },
  });
}

describe("firing", () => {
  it("fires each occurrence once at its time in the zone, across the Berlin spring-forward", async () => {
    const host = await seedHost();
    await seedVms(host.id, ["web-1"]);
    const clock = manualClock("2026-03-27T12:00:00Z");
    const s = await schedule(
      { name: "nightly", cron: "30 2 * * *", timezone: "Europe/Berlin", targets: { hostId: host.id } },
      clock.now(),
    );
    expect(s.nextRunAt).toBe("2026-03-28T01:30:00.000Z");
    const w = worker(clock);
    for (const at of ["2026-03-28T01:30:00Z", "2026-03-29T01:30:00Z", "2026-03-30T00:30:00Z"]) {
      clock.set(new Date(new Date(at).getTime() - 1));
      expect((await w.tick()).fired).toHaveLength(0);
      clock.set(at);
      const { fired } = await w.tick();
      expect(fired.map((r) => r.scheduledFor.toISOString())).toEqual([new Date(at).toISOString()]);
      expect((await w.tick()).fired).toHaveLength(0);
      // The snapshot must end before the next day's run, or the VM is busy.
      await endSnapshots(
        port.created.map((c) => c.snapshotId),
        "completed",
      );
    }
    const runs = await runsOf(s.id);
    expect(runs.map((r) => [r.trigger, r.firedAt.toISOString()])).toEqual([
      ["scheduled", "2026-03-28T01:30:00.000Z"],
      ["scheduled", "2026-03-29T01:30:00.000Z"],
      ["scheduled", "2026-03-30T00:30:00.000Z"],
    ]);
  });

  it("fires both repeated half-hours at the Berlin fall-back for */30", async () => {
    const host = await seedHost();
    await seedVms(host.id, ["web-1"]);
    const clock = manualClock("2026-10-24T23:50:00Z");
    const s = await schedule(
      {
        name: "half-hourly",
        cron: "*/30 * * * *",
        timezone: "Europe/Berlin",
        targets: { hostId: host.id },
        busyPolicy: "skip",
      },
      clock.now(),
    );
    const w = worker(clock);
    const fired: string[] = [];
    for (let t = clock.now().getTime(); t <= new Date("2026-10-25T02:10:00Z").getTime(); t += 60_000) {
      clock.set(new Date(t));
      fired.push(...(await w.tick()).fired.map((r) => r.scheduledFor.toISOString()));
    }
    expect(fired).toEqual([
      "2026-10-25T00:00:00.000Z",
      "2026-10-25T00:30:00.000Z",
      "2026-10-25T01:00:00.000Z",
      "2026-10-25T01:30:00.000Z",
      "2026-10-25T02:00:00.000Z",
    ]);
    expect((await runsOf(s.id)).every((r) => r.missedCount === 0)).toBe(true);
  });

  it("resolves targets at fire time: a VM added after the schedule was saved is picked up", async () => {
    const host = await seedHost();
    await seedVms(host.id, ["web-1", "db-1"], []);
    const clock = manualClock("2026-05-01T09:59:00Z");
    const s = await schedule(
      { name: "web", cron: "0 10 * * *", timezone: "UTC", targets: { selector: "web-*" } },
      clock.now(),
    );
    await seedVms(host.id, ["web-2"]);
    await seedVms(host.id, ["api-1"], ["web-tier"]);
    await db().vm.updateMany({ where: { name: "web-1" }, data: { state: "gone" } });
    clock.set("2026-05-01T10:00:00Z");
    await worker(clock).tick();
    const [run] = await runsOf(s.id);
    expect(run?.items.map((i) => i.vmName).sort()).toEqual(["api-1", "web-2"]);
  });

  it("records a run with no matching VM as failed, never silently", async () => {
    const clock = manualClock("2026-05-01T09:59:00Z");
    const s = await schedule(
      { name: "nobody", cron: "0 10 * * *", timezone: "UTC", targets: { selector: "nothing-*" } },
      clock.now(),
    );
    clock.set("2026-05-01T10:00:00Z");
    await worker(clock).tick();
    const [run] = await runsOf(s.id);
    expect(run).toMatchObject({ status: "failed", vmCount: 0 });
    expect(run?.reason).toMatch(/no VM matched/);
    expect((await db().schedule.findUniqueOrThrow({ where: { id: s.id } })).consecutiveFailures).toBe(1);
  });

  it("spreads VMs over the stagger window, hosts interleaved", async () => {
    const h1 = await seedHost("h1");
    const h2 = await seedHost("h2");
    await seedVms(h1.id, ["a1", "a2"]);
    await seedVms(h2.id, ["b1", "b2"]);
    const clock = manualClock("2026-05-01T09:59:00Z");
    const s = await schedule(
      { name: "spread", cron: "0 10 * * *", timezone: "UTC", targets: { selector: "*" }, staggerSeconds: 120 },
      clock.now(),
    );
    clock.set("2026-05-01T10:00:00Z");
    const w = worker(clock);
    await w.tick();
    const items = (await runsOf(s.id))[0]!.items.sort((a, b) => a.notBefore.getTime() - b.notBefore.getTime());
    expect(items.map((i) => [i.vmName, i.notBefore.toISOString()])).toEqual([
      ["a1", "2026-05-01T10:00:00.000Z"],
      ["b1", "2026-05-01T10:00:30.000Z"],
      ["a2", "2026-05-01T10:01:00.000Z"],
      ["b2", "2026-05-01T10:01:30.000Z"],
    ]);
    expect(port.created).toHaveLength(1);
    clock.set("2026-05-01T10:01:00Z");
    await w.tick();
    expect(port.created).toHaveLength(3);
  });
});

describe("missed runs", () => {
  it("run-once: one catch-up run on start, with the missed occurrences recorded", async () => {
    const host = await seedHost();
    await seedVms(host.id, ["web-1"]);
    const clock = manualClock("2026-05-01T07:30:00Z");
    const s = await schedule(
      { name: "hourly", cron: "0 * * * *", timezone: "UTC", targets: { hostId: host.id } },
      clock.now(),
    );
    // The dashboard was down from 07:30 to 12:20: 08:00 … 12:00 were missed.
    clock.set("2026-05-01T12:20:00Z");
    const { fired } = await worker(clock).tick();
    expect(fired).toHaveLength(1);
    const [run] = await runsOf(s.id);
    expect(run).toMatchObject({ trigger: "catch_up", status: "running", missedCount: 5, vmCount: 1 });
    expect(run?.scheduledFor.toISOString()).toBe("2026-05-01T12:00:00.000Z");
    expect(run?.reason).toMatch(/missed 5 runs .* ran once on start/);
    expect((await db().schedule.findUniqueOrThrow({ where: { id: s.id } })).nextRunAt?.toISOString()).toBe(
      "2026-05-01T13:00:00.000Z",
    );
  });

  it("skip: the missed occurrences are recorded as a skipped run and nothing is snapshotted", async () => {
    const host = await seedHost();
    await seedVms(host.id, ["web-1"]);
    const clock = manualClock("2026-05-01T07:30:00Z");
    const s = await schedule(
      {
        name: "hourly-skip",
        cron: "0 * * * *",
        timezone: "UTC",
        targets: { hostId: host.id },
        missedRunPolicy: "skip",
      },
      clock.now(),
    );
    clock.set("2026-05-01T12:20:00Z");
    await worker(clock).tick();
    const [run] = await runsOf(s.id);
    expect(run).toMatchObject({ trigger: "catch_up", status: "skipped", missedCount: 5, vmCount: 0, items: [] });
    expect(run?.reason).toMatch(/skipped by the schedule's missed-run policy/);
    expect(port.created).toHaveLength(0);
  });

  it("a run a few seconds late (a restart) fires normally", async () => {
    const host = await seedHost();
    await seedVms(host.id, ["web-1"]);
    const clock = manualClock("2026-05-01T07:30:00Z");
    const s = await schedule(
      { name: "restart", cron: "0 8 * * *", timezone: "UTC", targets: { hostId: host.id }, missedRunPolicy: "skip" },
      clock.now(),
    );
    clock.set("2026-05-01T08:00:20Z");
    await worker(clock).tick();
    expect((await runsOf(s.id))[0]).toMatchObject({ trigger: "scheduled", status: "running", missedCount: 0 });
  });
});

describe("busy VMs", () => {
  it("skip policy records the skip and the snapshot the VM was busy with", async () => {
    const host = await seedHost();
    const [vm] = await seedVms(host.id, ["web-1"]);
    const manual = await db().snapshot.create({ data: { vmId: vm!.id, hostId: host.id, status: "active" } });
    const clock = manualClock("2026-05-01T09:59:00Z");
    const s = await schedule(
      { name: "skip-busy", cron: "0 10 * * *", timezone: "UTC", targets: { vmIds: [vm!.id] }, busyPolicy: "skip" },
      clock.now(),
    );
    clock.set("2026-05-01T10:00:00Z");
    const w = worker(clock);
    await w.tick();
    const [run] = await runsOf(s.id);
    expect(run?.items[0]).toMatchObject({ status: "skipped" });
    expect(run?.items[0]?.reason).toContain(`busy with snapshot ${manual.id}`);
    expect(run).toMatchObject({ status: "skipped" });
    expect(run?.reason).toMatch(/0 completed, 0 failed, 1 skipped/);
  });

  it("wait policy waits for the VM, then runs", async () => {
    const host = await seedHost();
    const [vm] = await seedVms(host.id, ["web-1"]);
    const manual = await db().snapshot.create({ data: { vmId: vm!.id, hostId: host.id, status: "active" } });
    const clock = manualClock("2026-05-01T09:59:00Z");
    const s = await schedule(
      { name: "wait-busy", cron: "0 10 * * *", timezone: "UTC", targets: { vmIds: [vm!.id] } },
      clock.now(),
    );
    clock.set("2026-05-01T10:00:00Z");
    const w = worker(clock);
    await w.tick();
    let item = (await runsOf(s.id))[0]!.items[0]!;
    expect(item).toMatchObject({ status: "pending" });
    expect(item.reason).toMatch(/^waiting: VM web-1 was busy/);
    await endSnapshots([manual.id], "completed");
    clock.set("2026-05-01T10:00:10Z");
    await w.tick();
    item = (await runsOf(s.id))[0]!.items[0]!;
    expect(item).toMatchObject({ status: "dispatched", attempt: 1 });
    expect(port.created).toHaveLength(1);
  });

  it("wait policy gives up at the next occurrence, with a reason", async () => {
    const host = await seedHost();
    const [vm] = await seedVms(host.id, ["web-1"]);
    await db().snapshot.create({ data: { vmId: vm!.id, hostId: host.id, status: "active" } });
    const clock = manualClock("2026-05-01T09:59:00Z");
    const s = await schedule(
      { name: "wait-long", cron: "0 * * * *", timezone: "UTC", targets: { vmIds: [vm!.id] } },
      clock.now(),
    );
    clock.set("2026-05-01T10:00:00Z");
    const w = worker(clock);
    await w.tick();
    clock.set("2026-05-01T11:00:00Z");
    await w.tick();
    const [first] = await runsOf(s.id);
    expect(first?.items[0]).toMatchObject({ status: "skipped" });
    expect(first?.items[0]?.reason).toMatch(/still busy at the wait deadline/);
  });
});

describe("failures", () => {
  it("retries a transient failure with backoff and not a permanent one; flags after N failed runs", async () => {
    const host = await seedHost();
    const [vm] = await seedVms(host.id, ["web-1"]);
    const clock = manualClock("2026-05-01T09:59:00Z");
    const s = await schedule(
      { name: "flaky", cron: "0 * * * *", timezone: "UTC", targets: { vmIds: [vm!.id] }, failureAlertThreshold: 2 },
      clock.now(),
    );
    const w = worker(clock);
    clock.set("2026-05-01T10:00:00Z");
    await w.tick();
    // Attempt 1 fails: the VM's monitor could not be reached.
    await endSnapshots([port.created[0]!.snapshotId], "failed", {
      errorClass: "vm-unreachable",
      errorMessage: "connect ECONNREFUSED",
    });
    await w.tick();
    let item = (await runsOf(s.id))[0]!.items[0]!;
    expect(item).toMatchObject({ status: "pending", attempt: 1 });
    expect(item.notBefore.toISOString()).toBe("2026-05-01T10:00:30.000Z");
    clock.set("2026-05-01T10:00:30Z");
    await w.tick();
    await endSnapshots([port.created[1]!.snapshotId], "failed", {
      errorClass: "vm-unreachable",
      errorMessage: "connect ECONNREFUSED",
    });
    await w.tick();
    item = (await runsOf(s.id))[0]!.items[0]!;
    expect(item.notBefore.toISOString()).toBe("2026-05-01T10:02:30.000Z");
    clock.set("2026-05-01T10:02:30Z");
    await w.tick();
    await endSnapshots([port.created[2]!.snapshotId], "failed", {
      errorClass: "vm-unreachable",
      errorMessage: "connect ECONNREFUSED",
    });
    await w.tick();
    let [run] = await runsOf(s.id);
    expect(run?.items[0]).toMatchObject({ status: "failed", attempt: 3 });
    expect(run?.items[0]?.reason).toMatch(/after 3 attempts/);
    expect(run).toMatchObject({ status: "failed" });

    // 11:00: a permanent failure is not retried.
    clock.set("2026-05-01T11:00:00Z");
    await w.tick();
    await endSnapshots([port.created[3]!.snapshotId], "failed", {
      errorClass: "refused",
      errorMessage: "the VM uses shared memory",
    });
    await w.tick();
    run = (await runsOf(s.id))[1];
    expect(run?.items[0]).toMatchObject({ status: "failed", attempt: 1 });
    expect(run?.items[0]?.reason).toMatch(/not retried: permanent/);
    expect(port.created).toHaveLength(4);

    const view = (await listSchedules()).find((x) => x.id === s.id)!;
    expect(view).toMatchObject({ consecutiveFailures: 2, flagged: true, enabled: true });
    expect(view.successRate).toEqual({ succeeded: 0, finished: 2, rate: 0 });

    // A success clears the flag.
    clock.set("2026-05-01T12:00:00Z");
    await w.tick();
    await endSnapshots([port.created[4]!.snapshotId], "completed");
    await w.tick();
    expect((await getSchedule(s.id)).schedule).toMatchObject({
      consecutiveFailures: 0,
      flagged: false,
      lastRun: { status: "succeeded" },
    });
  });

  it("a creation error that is not a domain error is retried; a domain error is not", async () => {
    const host = await seedHost();
    const [vm] = await seedVms(host.id, ["web-1"]);
    const clock = manualClock("2026-05-01T09:59:00Z");
    const s = await schedule(
      { name: "create-fails", cron: "0 10 * * *", timezone: "UTC", targets: { vmIds: [vm!.id] } },
      clock.now(),
    );
    port.failNext.push(new Error("connect ETIMEDOUT"));
    clock.set("2026-05-01T10:00:00Z");
    const w = worker(clock);
    await w.tick();
    expect((await runsOf(s.id))[0]!.items[0]).toMatchObject({ status: "pending", attempt: 1 });
    const { NotFoundError } = await import("../../lib/errors");
    port.failNext.push(new NotFoundError("VM not found"));
    clock.set("2026-05-01T10:00:30Z");
    await w.tick();
    expect((await runsOf(s.id))[0]!.items[0]).toMatchObject({ status: "failed", attempt: 2 });
  });
});

describe("retention", () => {
  it("prunes only this schedule's snapshots, by id, after a successful run, never the newest", async () => {
    const host = await seedHost();
    const [vm] = await seedVms(host.id, ["web-1"]);
    const clock = manualClock("2026-05-01T00:30:00Z");
    const s = await schedule(
      { name: "keep-2", cron: "0 * * * *", timezone: "UTC", targets: { vmIds: [vm!.id] }, retention: { keepLast: 2 } },
      clock.now(),
    );
    const other = await schedule(
      { name: "other", cron: "0 0 1 1 *", timezone: "UTC", targets: { vmIds: [vm!.id] } },
      clock.now(),
    );
    const otherSnap = await db().snapshot.create({
      data: {
        vmId: vm!.id,
        hostId: host.id,
        scheduleId: other.id,
        status: "completed",
        createdAt: new Date("2026-04-01T00:00:00Z"),
      },
    });
    const manual = await db().snapshot.create({
      data: { vmId: vm!.id, hostId: host.id, status: "completed", createdAt: new Date("2026-04-02T00:00:00Z") },
    });
    const w = worker(clock);
    for (let h = 1; h <= 4; h++) {
      clock.set(`2026-05-01T0${h}:00:00Z`);
      await w.tick();
      const last = port.created[port.created.length - 1]!;
      await endSnapshots([last.snapshotId], "completed", undefined, clock.now());
      // A rename in between changes nothing: decisions are by id.
      if (h === 2) {
        await db().vm.update({ where: { id: vm!.id }, data: { name: "web-renamed" } });
        await updateSchedule(s.id, { name: "keep-2-renamed" }, clock.now());
      }
      await w.tick();
    }
    const created = port.created.map((c) => c.snapshotId);
    expect(port.removed.sort()).toEqual([created[0], created[1]].sort());
    const prunes = await db().schedulePrune.findMany({ where: { scheduleId: s.id } });
    expect(prunes.map((p) => p.snapshotId).sort()).toEqual([created[0], created[1]].sort());
    const live = await db().snapshot.findMany({ where: { vmId: vm!.id, deletedAt: null }, select: { id: true } });
    expect(live.map((x) => x.id).sort()).toEqual([created[2], created[3], otherSnap.id, manual.id].sort());
    const runs = await runsOf(s.id);
    expect(runs.map((r) => r.prunedCount)).toEqual([0, 0, 1, 1]);
  });

  it("previews what a proposed policy would delete, without deleting", async () => {
    const host = await seedHost();
    const [vm] = await seedVms(host.id, ["web-1"]);
    const clock = manualClock("2026-05-01T00:30:00Z");
    const s = await schedule(
      { name: "preview", cron: "0 * * * *", timezone: "UTC", targets: { vmIds: [vm!.id] } },
      clock.now(),
    );
    const ids: string[] = [];
    for (let d = 1; d <= 4; d++) {
      const snap = await db().snapshot.create({
        data: {
          vmId: vm!.id,
          hostId: host.id,
          scheduleId: s.id,
          status: "completed",
          startedAt: new Date(`2026-04-0${d}T12:00:00Z`),
        },
      });
      ids.push(snap.id);
    }
    const marked = await db().snapshot.create({
      data: {
        vmId: vm!.id,
        hostId: host.id,
        status: "completed",
        prunable: true,
        startedAt: new Date("2026-03-01T00:00:00Z"),
      },
    });
    const stored = await previewRetention(s.id);
    expect(stored).toMatchObject({ policySummary: "keep all", keep: 5, prune: 0 });
    const proposed = await previewRetention(s.id, { keepDaily: 2 });
    expect(proposed).toMatchObject({ policySummary: "daily 2", keep: 2, prune: 3 });
    expect(
      proposed.snapshots
        .filter((x) => x.action === "prune")
        .map((x) => x.id)
        .sort(),
    ).toEqual([ids[0], ids[1], marked.id].sort());
    expect(proposed.snapshots.find((x) => x.id === ids[3])).toMatchObject({
      rule: "daily",
      period: "2026-04-04",
      vmName: "web-1",
    });
    expect(await db().snapshot.count({ where: { deletedAt: { not: null } } })).toBe(0);
  });
});
