// What one /metrics scrape costs against a large history: lib/metrics/registry.ts renderMetrics() (every
// fleet figure read from PostgreSQL in one transaction of aggregate queries, plus the process metrics)
// on a real PostgreSQL 17 holding 20 hosts, 1,000 VMs, BENCH_METRICS_SNAPSHOTS snapshot rows (default
// 1,000,000: 90 % completed, the rest failed/cancelled, a few hundred queued/active) and 100,000
// schedule runs. Prints the scrape time (first, median, max of 10) and the exposition's size.
import { db } from "../lib/db/client";
import { renderMetrics } from "../lib/metrics/registry";
import type { BenchResult } from "./lib/context";
import { withDatabase } from "./scheduler-lateness";

const SNAPSHOTS = Number(process.env.BENCH_METRICS_SNAPSHOTS || 1_000_000);
const SCRAPES = 10;

/** `npm run bench -- metrics-scrape` (bench/run.ts prints the rows and writes the JSON). */
export async function run(): Promise<BenchResult> {
  return withDatabase(measure);
}

async function seed(): Promise<number> {
  const started = performance.now();
  await db().$executeRawUnsafe(`
    INSERT INTO "Host" (id, name, kind, "snapshotDir", healthy, "updatedAt")
    SELECT gen_random_uuid(), 'host-' || i, 'local', '/var/lib/snapfleet/snaps', i % 7 <> 0, now() FROM generate_series(1, 20) i`);
  await db().$executeRawUnsafe(`
    INSERT INTO "Vm" (id, "hostId", endpoint, name, state, "updatedAt")
    SELECT gen_random_uuid(), h.id, '/run/snapfleet/vm-' || i || '.sock', 'vm-' || i,
      (CASE WHEN i % 50 = 0 THEN 'unreachable' ELSE 'running' END)::"VmState", now()
    FROM generate_series(1, 1000) i JOIN (SELECT id, row_number() OVER () - 1 AS n FROM "Host") h ON h.n = i % 20`);
  await db().$executeRawUnsafe(`
    INSERT INTO "Snapshot" (id, "vmId", "hostId", mode, status, "totalMs", "guestPauseMs", "sizeBytes", "createdAt", "finishedAt")
    SELECT gen_random_uuid(), v.id, v."hostId",
      (ARRAY['live', 'ram_only', 'disks_only'])[1 + i % 3]::"SnapshotMode",
      (CASE WHEN i <= 300 THEN (ARRAY['queued', 'active'])[1 + i % 2] WHEN i % 10 = 0 THEN 'failed' WHEN i % 97 = 0 THEN 'cancelled' ELSE 'completed' END)::"SnapshotStatus",
      1000 + (i % 600) * 1000, 1 + (i % 200), (i % 4096)::bigint * 1048576, now() - make_interval(secs => i), now() - make_interval(secs => i)
    FROM generate_series(1, ${SNAPSHOTS}) i JOIN (SELECT id, "hostId", row_number() OVER () - 1 AS n FROM "Vm") v ON v.n = i % 1000`);
  await db().$executeRawUnsafe(`
    INSERT INTO "Schedule" (id, name, cron, targets, "updatedAt", "nextRunAt")
    VALUES (gen_random_uuid(), 'hourly', '0 * * * *', '{"selector": "*"}', now(), now() + interval '1 hour')`);
  await db().$executeRawUnsafe(`
    INSERT INTO "ScheduleRun" (id, "scheduleId", "scheduledFor", trigger, status, "firedAt")
    SELECT gen_random_uuid(), s.id, now() - make_interval(hours => i), 'scheduled', 'succeeded', now() - make_interval(hours => i) + make_interval(secs => (i % 30) / 10.0)
    FROM generate_series(1, 100000) i, "Schedule" s`);
  await db().$executeRawUnsafe(`ANALYZE`);
  return Math.round((performance.now() - started) / 1000);
}

async function measure(): Promise<BenchResult> {
  const seedSeconds = await seed();
  const times: number[] = [];
  let bytes = 0;
  for (let i = 0; i < SCRAPES; i++) {
    const t = performance.now();
    const { body } = await renderMetrics();
    times.push(performance.now() - t);
    bytes = Buffer.byteLength(body);
  }
  const first = times[0]!;
  const sorted = [...times].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)]!;
  return {
    rows: [
      {
        snapshots: SNAPSHOTS,
        scheduleRuns: 100_000,
        hosts: 20,
        vms: 1000,
        firstMs: Math.round(first),
        medianMs: Math.round(median),
        maxMs: Math.round(sorted.at(-1)!),
        exposition: `${Math.round(bytes / 1024)} KiB`,
      },
    ],
    details: { seedSeconds, scrapesMs: times.map((t) => Math.round(t)) },
  };
}
