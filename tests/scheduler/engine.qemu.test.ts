// The scheduler over the real snapshot engine: 6 tiny idle QEMU VMs on one host, one schedule in
// ram-only mode, "run now" — the fan-out goes through createSnapshotJob and the pg-boss snapshot
// worker, whose admission holds the per-host limit of 2. Read back from the snapshots' persisted
// status history: never more than 2 running on the host at once, the rest visibly `queued` meanwhile,
// all 6 completed; a second run then prunes the first run's 6 through deleteSnapshot (keep-last 1).
import { mkdirSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { db } from "../../lib/db/client";
import { closeAllVmSessions } from "../../lib/fleet/sessions";
import { startBoss, stopBoss } from "../../lib/jobs/boss";
import { logger } from "../../lib/logger";
import { snapshotEnginePort } from "../../lib/scheduler/engine-port";
import { runScheduleNow } from "../../lib/scheduler/runs";
import { createSchedule } from "../../lib/scheduler/service";
import { SchedulerWorker } from "../../lib/scheduler/worker";
import { startSnapshotWorker } from "../../lib/snapshots/worker";
import { scheduleCreateSchema } from "../../lib/validations/schedule";
import { useTestDatabase } from "../support/db";
import { disposeAllVms, startVms, type TestVm } from "../support/qemu";

const database = useTestDatabase();
const log = logger.child({ test: "scheduler-engine" });

let root: string;
let vms: TestVm[];
let hostId: string;
let stopSnapshots: () => Promise<void>;
let scheduler: SchedulerWorker;

async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), "snapfleet-sched-"));
  vms = await startVms(6, { memoryMiB: 128, disks: 0 });
  const host = await db().host.create({
    data: { name: "one-host", kind: "local", socketDir: root, snapshotDir: path.join(root, "snaps") },
  });
  mkdirSync(host.snapshotDir);
  hostId = host.id;
  for (const vm of vms) {
    await db().vm.create({
      data: { hostId, name: vm.name, endpoint: vm.qmpSocket, state: "running", bgSnapshotSupported: true },
    });
  }
  await startBoss(database.current.url, log);
  stopSnapshots = await startSnapshotWorker({ log, pollIntervalMs: 250, concurrency: 6 });
  scheduler = new SchedulerWorker({ port: snapshotEnginePort(log), log, pollMs: 250 });
  scheduler.start();
});

afterAll(async () => {
  await scheduler?.stop();
  await stopSnapshots?.();
  await stopBoss();
  await closeAllVmSessions();
  await disposeAllVms();
  if (root) await rm(root, { recursive: true, force: true });
});

describe("6 VMs on one host through the real snapshot engine", () => {
  it(
    "never runs more than 2 at once on the host, queues the rest, completes all, then prunes by policy",
    { timeout: 300_000 },
    async () => {
      const schedule = await createSchedule(
        scheduleCreateSchema.parse({
          name: "six",
          cron: "0 3 1 1 *",
          timezone: "UTC",
          targets: { hostId },
          mode: "ram-only",
          retention: { keepLast: 1 },
        }),
        new Date(),
      );
      const first = await runScheduleNow(schedule.id, new Date());
      scheduler.wake();
      const finished = await waitFor("the first run to end", async () => {
        const r = await db().scheduleRun.findUniqueOrThrow({ where: { id: first.id } });
        return r.status !== "running" && r;
      });
      expect(finished.status, finished.reason ?? "").toBe("succeeded");
      const snaps = await db().snapshot.findMany({
        where: { scheduleId: schedule.id },
        include: { history: { orderBy: { id: "asc" } } },
      });
      expect(snaps).toHaveLength(6);
      expect(snaps.every((s) => s.status === "completed" && s.mode === "ram_only")).toBe(true);

      // Replay the persisted history: +1 when a snapshot leaves `queued`, -1 when it ends.
      const events = snaps.flatMap((s) => {
        const started = s.history.find((h) => h.status === "preflight")!;
        const ended = s.history.find((h) => h.status === "completed")!;
        return [
          { at: started.at.getTime(), d: 1 },
          { at: ended.at.getTime(), d: -1 },
        ];
      });
      events.sort((a, b) => a.at - b.at || a.d - b.d);
      let running = 0;
      let max = 0;
      for (const e of events) max = Math.max(max, (running += e.d));
      expect(max).toBeLessThanOrEqual(2);
      // Some jobs had to wait in `queued` while two others ran.
      const startTimes = snaps
        .map((s) => s.history.find((h) => h.status === "preflight")!.at.getTime())
        .sort((a, b) => a - b);
      const firstEnd = Math.min(...snaps.map((s) => s.history.find((h) => h.status === "completed")!.at.getTime()));
      expect(startTimes.filter((t) => t >= firstEnd).length).toBeGreaterThanOrEqual(4);

      // A second run; keep-last 1 then deletes the first run's six (through deleteSnapshot).
      const second = await runScheduleNow(schedule.id, new Date());
      scheduler.wake();
      await waitFor("the second run to end and prune", async () => {
        const r = await db().scheduleRun.findUniqueOrThrow({ where: { id: second.id } });
        return r.status !== "running" && r.prunedCount === 6 && r;
      });
      const live = await db().snapshot.findMany({ where: { scheduleId: schedule.id, deletedAt: null } });
      expect(live).toHaveLength(6);
      expect(live.every((s) => !snaps.some((f) => f.id === s.id))).toBe(true);
      expect(await db().schedulePrune.count({ where: { scheduleId: schedule.id, runId: second.id } })).toBe(6);
    },
  );
});
