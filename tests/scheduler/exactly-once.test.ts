// Exactly-once firing with TWO real scheduler processes on one PostgreSQL: both run the scheduler loop
// (tests/scheduler/fixtures/scheduler-process.ts) on a shared clock running 60× real time, over 20
// every-minute schedules for 12 scheduler minutes. Every occurrence must be fired by exactly one
// process, none skipped, each VM snapshotted once per run, and each prune recorded once.
import { spawn } from "node:child_process";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { db } from "../../lib/db/client";
import { createSchedule } from "../../lib/scheduler/service";
import { scheduleCreateSchema } from "../../lib/validations/schedule";
import { useTestDatabase } from "../support/db";
import { seedHost, seedVms } from "./support";

const database = useTestDatabase();

const SCHEDULES = 20;
const MINUTES = 12;
const SPEED = 60;

interface Fired {
  process: string;
  runId: string;
  scheduleId: string;
  scheduledFor: string;
}

function runProcess(
  name: string,
  env: Record<string, string>,
): Promise<{ fired: Fired[]; stderr: string; code: number | null }> {
  const root = path.resolve(import.meta.dirname, "../..");
  const child = spawn(path.join(root, "node_modules/.bin/tsx"), ["tests/scheduler/fixtures/scheduler-process.ts"], {
    cwd: root,
    env: { ...process.env, ...env, PROCESS_NAME: name },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let stderr = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (stderr += d));
  return new Promise((resolve) => {
    child.on("exit", (code) => {
      const fired = out
        .split("\n")
        .filter((l) => l.startsWith("{") && l.includes('"runId"'))
        .map((l) => JSON.parse(l) as Fired);
      resolve({ fired, stderr, code });
    });
  });
}

describe("two scheduler processes, one database", () => {
  it("fire every occurrence exactly once", { timeout: 240_000 }, async () => {
    const epoch = new Date("2026-03-29T00:00:30Z");
    const host = await seedHost();
    const vms = await seedVms(
      host.id,
      Array.from({ length: SCHEDULES }, (_, i) => `vm-${String(i).padStart(2, "0")}`),
    );
    const schedules = [];
    for (const [i, vm] of vms.entries()) {
      schedules.push(
        await createSchedule(
          scheduleCreateSchema.parse({
            name: `every-minute-${i}`,
            cron: "* * * * *",
            timezone: "Europe/Berlin",
            targets: { vmIds: [vm.id] },
            busyPolicy: "skip",
            retention: { keepLast: 3 },
          }),
          epoch,
        ),
      );
    }
    const end = epoch.getTime() + MINUTES * 60_000;
    // Both processes start their clocks at the same real instant, after tsx has loaded them.
    const env = {
      DATABASE_URL: database.current.url,
      CLOCK_EPOCH: String(epoch.getTime()),
      CLOCK_REAL_START: String(Date.now() + 4_000),
      CLOCK_SPEED: String(SPEED),
      CLOCK_END: String(end),
    };
    const [a, b] = await Promise.all([runProcess("A", env), runProcess("B", env)]);
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);

    // No run was reported by both processes, and both took part.
    const all = [...a.fired, ...b.fired];
    expect(new Set(all.map((f) => f.runId)).size).toBe(all.length);
    expect(a.fired.length).toBeGreaterThan(0);
    expect(b.fired.length).toBeGreaterThan(0);

    // Every occurrence in the window fired once: 00:01:00 … 00:12:00, for every schedule. (The
    // processes go on firing while they finish the window's last runs: later occurrences are not counted.)
    const expected = Array.from({ length: MINUTES }, (_, m) => new Date(Date.UTC(2026, 2, 29, 0, m + 1)).toISOString());
    const allRuns = await db().scheduleRun.findMany({ orderBy: [{ scheduleId: "asc" }, { scheduledFor: "asc" }] });
    expect(all.map((f) => f.runId).sort()).toEqual(allRuns.map((r) => r.id).sort());
    const runs = allRuns.filter((r) => r.scheduledFor.getTime() <= end);
    const missing = schedules.flatMap((s) =>
      expected
        .filter((at) => !runs.some((r) => r.scheduleId === s.id && r.scheduledFor.toISOString() === at))
        .map((at) => `${s.name}@${at}`),
    );
    expect(missing).toEqual([]);
    expect(runs).toHaveLength(SCHEDULES * MINUTES);
    for (const s of schedules) {
      const mine = runs.filter((r) => r.scheduleId === s.id);
      expect(mine.map((r) => r.scheduledFor.toISOString())).toEqual(expected);
      expect(mine.every((r) => r.missedCount === 0 && r.trigger === "scheduled" && r.status === "succeeded")).toBe(
        true,
      );
    }
    expect(new Set(runs.map((r) => r.firedBy))).toEqual(new Set(["A", "B"]));

    // One snapshot per VM per run, created once; every deletion by retention recorded once, and
    // keep-last 3 leaves at least the 3 newest of each VM.
    const items = await db().scheduleRunItem.findMany({ where: { runId: { in: runs.map((r) => r.id) } } });
    expect(items).toHaveLength(SCHEDULES * MINUTES);
    expect(items.every((i) => i.status === "completed" && i.attempt === 1)).toBe(true);
    expect(new Set(items.map((i) => i.snapshotId)).size).toBe(items.length);
    const snapshots = await db().snapshot.findMany({ select: { id: true, vmId: true, deletedAt: true } });
    const itemsAll = await db().scheduleRunItem.count({ where: { snapshotId: { not: null } } });
    expect(snapshots).toHaveLength(itemsAll);
    const deleted = snapshots
      .filter((x) => x.deletedAt)
      .map((x) => x.id)
      .sort();
    expect((await db().schedulePrune.findMany()).map((p) => p.snapshotId).sort()).toEqual(deleted);
    expect(deleted.length).toBeGreaterThanOrEqual(SCHEDULES * (MINUTES - 3) - SCHEDULES);
    for (const vm of vms)
      expect(snapshots.filter((x) => x.vmId === vm.id && !x.deletedAt).length).toBeGreaterThanOrEqual(3);
  });
});
