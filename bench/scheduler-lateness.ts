// How late the scheduler fires with 10,000 schedules, through the real scheduler loop
// (lib/scheduler/worker.ts: claim → fan-out → dispatch → settle → finalize → retention keep-last 3) on
// a real PostgreSQL 17 (embedded in a temp dir, or DATABASE_URL). Two cases:
//   spread — the 10,000 due one after another over 60 s, as schedules spread over the hour are;
//   burst  — the 10,000 due at the same instant, every minute: the worst case; two bursts.
// The snapshot engine is replaced by a port that records each job as a completed Snapshot row: this
// measures the scheduler, not QEMU. Lateness of a run = when its claim committed − when it was due.
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { db } from "../lib/db/client";
import { startEmbeddedPostgres } from "../lib/db/embedded-postgres";
import { applyMigrations } from "../lib/db/migrate";
import { logger } from "../lib/logger";
import { nextRunAfter } from "../lib/schedule-rules/cron";
import type { SnapshotJobPort } from "../lib/scheduler/port";
import { SchedulerWorker } from "../lib/scheduler/worker";
import { toDbMode } from "../lib/validations/snapshot";
import type { BenchResult } from "./lib/context";

const SCHEDULES = Number(process.env.BENCH_SCHEDULES || 10_000);
const HOSTS = 20;

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

const ms = (n: number) => Math.round(n);

/** `npm run bench -- scheduler-lateness` (bench/run.ts prints the rows and writes the JSON). */
export async function run(): Promise<BenchResult> {
  return withDatabase(measure);
}

/** A migrated PostgreSQL for one bench part: DATABASE_URL, else an embedded one in a temp dir (removed after). */
export async function withDatabase<T>(fn: () => Promise<T>): Promise<T> {
  logger.level = "warn";
  let stopPg = async () => {};
  let dataDir: string | undefined;
  let url = process.env.DATABASE_URL;
  if (!url) {
    dataDir = mkdtempSync(path.join(tmpdir(), "snapfleet-bench-pg-"));
    const pg = await startEmbeddedPostgres({ dataDir, port: 55900 + (process.pid % 90) });
    url = pg.connectionString;
    stopPg = pg.stop;
  }
  await applyMigrations(url);
  process.env.DATABASE_URL = url;
  try {
    return await fn();
  } finally {
    await db().$disconnect();
    await stopPg();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  }
}

async function measure(): Promise<BenchResult> {
  const prisma = db();
  // A fleet of 10,000 VMs on 20 hosts; each schedule targets one of them. Registered in bulk: this
  // measures firing, not the API.
  const hosts = Array.from({ length: HOSTS }, (_, i) => ({
    id: randomUUID(),
    name: `bench-host-${i}`,
    kind: "local" as const,
    socketDir: "/nonexistent",
    snapshotDir: "/nonexistent",
  }));
  await prisma.host.createMany({ data: hosts });
  const vms = Array.from({ length: SCHEDULES }, (_, i) => ({
    id: randomUUID(),
    hostId: hosts[i % HOSTS]!.id,
    name: `bench-vm-${i}`,
    endpoint: `/nonexistent/${i}.sock`,
    state: "running" as const,
  }));
  for (let i = 0; i < vms.length; i += 2000) await prisma.vm.createMany({ data: vms.slice(i, i + 2000) });
  const hostOf = new Map<string, string>(vms.map((vm) => [vm.id, vm.hostId]));
  const port: SnapshotJobPort = {
    async create({ vmId, mode, scheduleId, note }) {
      return prisma.snapshot.create({
        data: {
          vmId,
          hostId: hostOf.get(vmId)!,
          scheduleId,
          note,
          mode: toDbMode(mode),
          status: "completed",
          startedAt: new Date(),
          finishedAt: new Date(),
        },
        select: { id: true },
      });
    },
    async remove(snapshotId) {
      await prisma.snapshot.update({ where: { id: snapshotId }, data: { deletedAt: new Date() } });
    },
  };

  /** Registers the schedules, runs the scheduler until `expected` runs fired, returns lateness per due instant. */
  async function scenario(cron: string, dueOf: (i: number) => Date, expected: number, deadline: number) {
    const registerStart = Date.now();
    const schedules = vms.map((vm, i) => ({
      id: randomUUID(),
      name: `bench-${i}`,
      cron,
      timezone: i % 2 ? "Europe/Berlin" : "America/New_York",
      targets: { vmIds: [vm.id] },
      mode: toDbMode("ram-only"),
      retention: { keepLast: 3 },
      busyPolicy: "skip",
      // Stored as due at the scenario's instant; afterwards the cron expression takes over.
      nextRunAt: dueOf(i),
    }));
    for (let i = 0; i < schedules.length; i += 2000)
      await prisma.schedule.createMany({ data: schedules.slice(i, i + 2000) });
    const registerMs = Date.now() - registerStart;
    const lateness = new Map<number, number[]>();
    let fired = 0;
    const worker = new SchedulerWorker({
      port,
      log: logger.child({ component: "bench-scheduler" }),
      onFired: (runs, at) => {
        for (const r of runs) {
          const due = r.scheduledFor.getTime();
          const list = lateness.get(due) ?? [];
          list.push(at.getTime() - due);
          lateness.set(due, list);
          fired++;
        }
      },
    });
    worker.start();
    while (fired < expected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
    await worker.stop();
    const [dispatch] = await prisma.$queryRaw<{ n: number; p50: number; p99: number; max: number }[]>`
      SELECT count(*)::int AS n,
             percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM ("claimedAt" - "notBefore")) * 1000)::float8 AS p50,
             percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM ("claimedAt" - "notBefore")) * 1000)::float8 AS p99,
             max(extract(epoch FROM ("claimedAt" - "notBefore")) * 1000)::float8 AS max
      FROM "ScheduleRunItem" WHERE "claimedAt" IS NOT NULL`;
    const [counts] = await prisma.$queryRaw<{ runs: number; missed: number; dupes: number }[]>`
      SELECT count(*)::int AS runs,
             count(*) FILTER (WHERE "missedCount" > 0 OR trigger <> 'scheduled')::int AS missed,
             (count(*) - count(DISTINCT ("scheduleId", "scheduledFor")))::int AS dupes
      FROM "ScheduleRun"`;
    await prisma.schedule.deleteMany();
    await prisma.snapshot.deleteMany();
    return { lateness, dispatch, counts, registerMs };
  }

  const rows: BenchResult["rows"] = [];
  const details: Record<string, unknown> = {
    schedules: SCHEDULES,
    hosts: HOSTS,
    scheduler: "one process; 500 schedules per claim transaction",
  };
  const row = (name: string, l: number[]) => {
    l.sort((a, b) => a - b);
    return {
      case: name,
      fired: l.length,
      "p50 ms": ms(percentile(l, 50)),
      "p99 ms": ms(percentile(l, 99)),
      "max ms": ms(l.at(-1) ?? NaN),
    };
  };

  // 1. Spread: the 10,000 schedules due one after another over 60 s (~167 a second), as schedules spread
  //    over the hour are; each fires once (yearly expression).
  const spreadStart = Math.ceil((Date.now() + 10_000) / 1000) * 1000;
  const spread = await scenario(
    "0 0 1 1 *",
    (i) => new Date(spreadStart + Math.floor((i * 60_000) / SCHEDULES)),
    SCHEDULES,
    spreadStart + 180_000,
  );
  rows.push(row(`spread: ${SCHEDULES} due over 60 s`, [...spread.lateness.values()].flat()));
  details.spread = { registerMs: spread.registerMs, ...spread.counts, dispatch: spread.dispatch };

  // 2. Burst: the 10,000 schedules fire every minute, all due at the same instant; two bursts.
  const firstBurst = new Date(Math.ceil((Date.now() + 10_000) / 1000) * 1000);
  const secondBurst = nextRunAfter("* * * * *", "UTC", firstBurst);
  const burst = await scenario("* * * * *", () => firstBurst, 2 * SCHEDULES, secondBurst.getTime() + 120_000);
  for (const [i, due] of [firstBurst, secondBurst].entries()) {
    rows.push(row(`burst ${i + 1}: ${SCHEDULES} due at one instant`, burst.lateness.get(due.getTime()) ?? []));
  }
  details.burst = { registerMs: burst.registerMs, ...burst.counts, dispatch: burst.dispatch };
  rows.push({
    case: "burst: dispatch (VM due → job created)",
    fired: burst.dispatch?.n ?? 0,
    "p50 ms": ms(burst.dispatch?.p50 ?? NaN),
    "p99 ms": ms(burst.dispatch?.p99 ?? NaN),
    "max ms": ms(burst.dispatch?.max ?? NaN),
  });
  details.duplicateFirings = Number(spread.counts?.dupes ?? 0) + Number(burst.counts?.dupes ?? 0);
  return { rows, details };
}
