// A snapshot job whose handler fails before its run begins (lib/snapshots/worker.ts
// retryAfterHandlerFailure), driven by the real worker on real pg-boss and real PostgreSQL, no QEMU:
// the job is queued through createSnapshotJob and every admission (lib/snapshots/admission.ts) hits a
// real database error — a trigger on "SnapshotAdmission" that raises on INSERT. It proves that such a
// job is neither lost nor retried forever: it stays `queued` while pg-boss delivers it again after 2,
// 4, 8 and 16 s (the queue's own job rows: each re-sent job's startAfter and the spacing of the
// deliveries), the worker logs each failure with its count, and the fifth failure fails the snapshot
// "the snapshot could not be started (5 attempts; last: <the database's error>); take it again", with
// `queued → failed` as its whole history. A second case removes the fault after two failures: the
// third delivery is admitted and the run begins (the history leaves `queued` for `preflight`; the run
// itself then fails for want of a QEMU, which is not this test's subject).
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { db } from "../../lib/db/client";
import type { Host, Vm } from "../../lib/db/generated/client";
import { releaseAllVmLeases } from "../../lib/fleet/vm-lease";
import { requireBoss, SNAPSHOT_RUN_QUEUE, startBoss, stopBoss, type SnapshotRunJobData } from "../../lib/jobs/boss";
import { createLogger } from "../../lib/logger";
import { createSnapshotJob, getSnapshot } from "../../lib/snapshots/jobs";
import { startSnapshotWorker } from "../../lib/snapshots/worker";
import { useTestDatabase } from "../support/db";
import { createVmRow } from "../support/vm-row";
import { settledSnapshot } from "../support/snapshot-jobs";
import { until } from "../support/wait";

const database = useTestDatabase();

const FAULT = "admission table unavailable (test fault)";
const RETRIED = "snapshot job handler failed before the run; the job is retried";
const LAST = "snapshot job handler failed for the last time";

/** The worker's log lines, parsed (it logs each handler failure with its count). */
const lines: Array<{ msg: string; snapshot?: string; failures?: number; time: number }> = [];
const log = createLogger({ write: (l: string) => void lines.push(JSON.parse(l)) }, "info");

let dir: string;
let host: Host;
let stopWorker: (() => Promise<void>) | undefined;

const vm = (name: string): Promise<Vm> => createVmRow(host, name, dir);

async function injectAdmissionFault(): Promise<void> {
  await db().$executeRawUnsafe(`
    CREATE OR REPLACE FUNCTION test_admission_fault() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION '${FAULT}'; END $$`);
  await db().$executeRawUnsafe(`
    CREATE OR REPLACE TRIGGER test_admission_fault BEFORE INSERT ON "SnapshotAdmission"
    FOR EACH ROW EXECUTE FUNCTION test_admission_fault()`);
}

async function removeAdmissionFault(): Promise<void> {
  await db().$executeRawUnsafe(`DROP TRIGGER IF EXISTS test_admission_fault ON "SnapshotAdmission"`);
}

/** The queue's job rows of one snapshot, oldest first (the first is createSnapshotJob's, the rest the retries). */
async function queueJobs(snapshotId: string) {
  const jobs = await requireBoss().findJobs<SnapshotRunJobData>(SNAPSHOT_RUN_QUEUE, { data: { snapshotId } });
  return jobs.sort((a, b) => a.createdOn.getTime() - b.createdOn.getTime());
}

const failuresLogged = (snapshotId: string) =>
  lines.filter((l) => l.msg === RETRIED && l.snapshot === snapshotId).map((l) => l.failures);

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "sf-handler-retry-"));
  host = await db().host.create({
    data: { name: "retry-host", kind: "local", socketDir: dir, snapshotDir: dir, healthy: true },
  });
  await startBoss(database.current.url, log);
  stopWorker = await startSnapshotWorker({ log, pollIntervalMs: 250, cancelPollMs: 200, sweepMs: 3_600_000 });
});

afterAll(async () => {
  await stopWorker?.();
  await stopBoss();
  await releaseAllVmLeases();
  await rm(dir, { recursive: true, force: true });
});

test("a job whose admission fails every time is retried after 2, 4, 8, 16 s, then failed with the reason", async () => {
  const target = await vm("retry-a");
  await injectAdmissionFault();
  try {
    const queued = await createSnapshotJob({ vmId: target.id, mode: "live" });
    expect(queued.status).toBe("queued");

    // Between the deliveries the job stays queued, never failed early.
    await until(() => (failuresLogged(queued.id).length >= 2 ? true : undefined), "two handler failures", 20_000);
    expect((await getSnapshot(queued.id)).status).toBe("queued");

    const final = await settledSnapshot(queued.id, 75_000);
    expect(final.status).toBe("failed");
    expect(final.error?.class).toBe("interrupted");
    // "last:" is what the database answered, on one line: not where in Snapfleet's source the call was made.
    expect(final.error?.message).toMatch(/^the snapshot could not be started \(5 attempts; last: .*\); take it again$/);
    expect(final.error?.message).toContain(FAULT);
    expect(final.error?.message).not.toMatch(/invocation|admission\.ts|\n/);
    expect(final.statusHistory.map((h) => h.status)).toEqual(["queued", "failed"]);
    expect(final.statusHistory.at(-1)?.detail).toBe("the job could not be started");
    expect(final.finishedAt).not.toBeNull();
    // The run never began: no admission slot, no start.
    expect(final.startedAt).toBeNull();
    expect(await db().snapshotAdmission.count({ where: { snapshotId: queued.id } })).toBe(0);

    // The worker said so, with the count: four retries, then the last failure.
    expect(failuresLogged(queued.id)).toEqual([1, 2, 3, 4]);
    expect(lines.filter((l) => l.msg === LAST && l.snapshot === queued.id).map((l) => l.failures)).toEqual([5]);

    // pg-boss delivered the job five times: the first job, then four re-sent with the backoff.
    const jobs = await queueJobs(queued.id);
    expect(jobs).toHaveLength(5);
    expect(jobs.map((j) => j.state)).toEqual(Array(5).fill("completed"));
    expect(jobs[0]!.id).toBe(queued.id);
    expect(jobs.map((j) => j.data.handlerFailures)).toEqual([undefined, 1, 2, 3, 4]);
    for (let i = 1; i < 5; i++) {
      const backoffMs = 2 ** i * 1000;
      const scheduled = jobs[i]!.startAfter.getTime() - jobs[i]!.createdOn.getTime();
      expect(scheduled, `job ${i}'s startAfter`).toBeGreaterThanOrEqual(backoffMs - 50);
      expect(scheduled, `job ${i}'s startAfter`).toBeLessThan(backoffMs + 1_000);
      // The deliveries themselves (started on the database's clock) were spaced at least by the backoff;
      // the upper bound is generous (1 s polling, a loaded machine).
      const gap = jobs[i]!.startedOn.getTime() - jobs[i - 1]!.startedOn.getTime();
      expect(gap, `delivery ${i + 1} after delivery ${i}`).toBeGreaterThanOrEqual(backoffMs);
      expect(gap, `delivery ${i + 1} after delivery ${i}`).toBeLessThan(backoffMs + 15_000);
    }
  } finally {
    await removeAdmissionFault();
  }
}, 90_000);

test("once the fault is gone, the next delivery is admitted and the run begins", async () => {
  const target = await vm("retry-b");
  await injectAdmissionFault();
  let id: string;
  try {
    id = (await createSnapshotJob({ vmId: target.id, mode: "live" })).id;
    await until(() => (failuresLogged(id).length >= 2 ? true : undefined), "two handler failures", 20_000);
  } finally {
    // The third delivery is 4 s away.
    await removeAdmissionFault();
  }
  expect((await getSnapshot(id)).status).toBe("queued");
  const final = await settledSnapshot(id, 60_000);
  expect(failuresLogged(id)).toEqual([1, 2]);
  expect(final.statusHistory.map((h) => h.status).slice(0, 2)).toEqual(["queued", "preflight"]);
  // The run's own failure (no QEMU listens on the VM's socket), not the handler's.
  expect(final.error?.class).toBe("vm-unreachable");
  expect(final.error?.message ?? "").not.toContain("could not be started");
  expect(lines.some((l) => l.msg === LAST && l.snapshot === id)).toBe(false);
  const jobs = await queueJobs(id);
  expect(jobs.map((j) => j.data.handlerFailures)).toEqual([undefined, 1, 2]);
}, 60_000);
