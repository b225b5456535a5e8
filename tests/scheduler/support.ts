// Helpers for the scheduler's tests: a fleet of VM rows, a clock moved by hand, and a snapshot-job
// port that creates queued Snapshot rows the way the engine's create function does (one job per VM,
// ConflictError with the busy snapshot's id) — for tests of the scheduler's own logic, where no QEMU
// is involved. The test then ends snapshots by writing their status, as the engine would.
import { randomUUID } from "node:crypto";
import { db } from "../../lib/db/client";
import { ConflictError, NotFoundError } from "../../lib/errors";
import type { SnapshotJobPort } from "../../lib/scheduler/port";
import type { SchedulerClock } from "../../lib/scheduler/worker";
import { toDbMode } from "../../lib/validations/snapshot";

export async function seedHost(name = `host-${randomUUID().slice(0, 8)}`) {
  return db().host.create({ data: { name, kind: "local", socketDir: "/tmp", snapshotDir: "/tmp", healthy: true } });
}

export async function seedVms(hostId: string, names: string[], tags: string[] = []) {
  const out = [];
  for (const name of names) {
    out.push(
      await db().vm.create({
        data: { hostId, name, endpoint: `/tmp/${randomUUID()}.sock`, state: "running", tags },
      }),
    );
  }
  return out;
}

export function manualClock(
  start: string | Date,
): SchedulerClock & { set(at: string | Date): void; advance(ms: number): void } {
  let now = new Date(start).getTime();
  return {
    now: () => new Date(now),
    set(at) {
      now = new Date(at).getTime();
    },
    advance(ms) {
      now += ms;
    },
    sleep: () => Promise.reject(new Error("tests drive the scheduler with tick(), never by sleeping")),
  };
}

export interface RecordingPort extends SnapshotJobPort {
  created: { vmId: string; scheduleId: string; snapshotId: string }[];
  removed: string[];
  /** Errors to throw from the next create() calls, in order. */
  failNext: Error[];
}

export function rowPort(): RecordingPort {
  const port: RecordingPort = {
    created: [],
    removed: [],
    failNext: [],
    async create({ vmId, mode, scheduleId, note }) {
      const next = port.failNext.shift();
      if (next) throw next;
      const vm = await db().vm.findUnique({ where: { id: vmId } });
      if (!vm) throw new NotFoundError("VM not found");
      const busy = await db().snapshot.findFirst({
        where: { vmId, status: { in: ["queued", "preflight", "setup", "active"] } },
      });
      if (busy) throw new ConflictError("a snapshot of this VM is already in progress", { snapshotId: busy.id });
      const s = await db().snapshot.create({
        data: { vmId, hostId: vm.hostId, scheduleId, mode: toDbMode(mode), note, status: "queued" },
      });
      port.created.push({ vmId, scheduleId, snapshotId: s.id });
      return { id: s.id };
    },
    async remove(snapshotId) {
      port.removed.push(snapshotId);
      await db().snapshot.update({ where: { id: snapshotId }, data: { deletedAt: new Date() } });
    },
  };
  return port;
}

/** Ends snapshots as the engine would. */
export async function endSnapshots(
  ids: string[],
  status: "completed" | "failed" | "cancelled",
  error?: { errorClass: string; errorMessage: string },
  startedAt?: Date,
) {
  await db().snapshot.updateMany({
    where: { id: { in: ids } },
    data: { status, finishedAt: new Date(), ...(startedAt ? { startedAt } : {}), ...error },
  });
}
