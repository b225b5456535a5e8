// A host's snapshot storage: the space its snapshots take per VM, the free space of its snapshot
// directory, and whether the snapshots its schedules will take in the next hours fit in it.
//  - Used space is the sum of the recorded `Snapshot.sizeBytes` of the host's snapshots not deleted:
//    the vmstate files written into the snapshot directory (run-snapshot.ts). A disk's state is an
//    internal snapshot inside the VM's own qcow2 image (recorded as 0 bytes): its space is the image's
//    growth, on the images' file system, not counted here.
//  - Free space is read through the host's access object (statfs locally, SFTP statvfs on SSH hosts,
//    host-files.ts freeBytes — the call preflight.ts makes); a TLS host gives no file access, so none.
//  - The forecast walks every enabled schedule's occurrences from its nextRunAt to the horizon, resolves
//    its targets with the scheduler's own resolver (schedule-rules/targets.ts) and estimates each VM's
//    snapshot of the schedule's mode: the VM's last completed RAM snapshot's size, else its guest RAM
//    (the vmstate's worst case), and 0 for disks-only. It ignores what retention will prune meanwhile,
//    so it errs on the side of warning.
// Read-only; never throws for an unreachable host (the reason is returned instead).
import { db } from "../db/client";
import { NotFoundError } from "../errors";
import { listOccurrences } from "../schedule-rules/cron";
import { resolveTargets, scheduleTargetsSchema, type TargetVm } from "../schedule-rules/targets";
import { fromDbMode, type SnapshotModeName } from "../validations/snapshot";
import { hostAccessFor } from "./host-access";
import type { HostStorageJson, StorageFiringJson, VmStorageJson } from "./host-storage-json";

export const STORAGE_FORECAST_HOURS = 24;
/** Occurrences counted per schedule in the window (a schedule firing every minute counts 200). */
const MAX_OCCURRENCES_PER_SCHEDULE = 200;

/** What one VM's snapshot of `mode` is expected to write into the snapshot directory. */
export function estimateSnapshotBytes(mode: SnapshotModeName, vm: Pick<VmStorageJson, "estimateBytes">): number {
  return mode === "disks-only" ? 0 : (vm.estimateBytes ?? 0);
}

function gib(bytes: number): string {
  return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
}

/** The warning, when the forecast's total would not fit in the free space. Pure. */
export function storageWarning(freeBytes: number | null, firings: StorageFiringJson[], hours: number): string | null {
  if (freeBytes === null) return null;
  const total = firings.reduce((n, f) => n + f.estimateBytes, 0);
  if (total <= freeBytes) return null;
  // The first firing that would no longer fit: the operator's deadline.
  let sum = 0;
  const first = firings.find((f) => (sum += f.estimateBytes) > freeBytes);
  return (
    `the snapshots scheduled in the next ${hours} h need about ${gib(total)} but only ${gib(freeBytes)} is free` +
    (first ? `: space runs out at ${first.scheduleName} (${first.at})` : "") +
    ". Free space, delete old snapshots or tighten retention"
  );
}

export async function getHostStorage(
  hostId: string,
  now = new Date(),
  hours = STORAGE_FORECAST_HOURS,
): Promise<HostStorageJson> {
  const host = await db().host.findUnique({ where: { id: hostId } });
  if (!host) throw new NotFoundError(`no host with id ${hostId}`);
  const to = new Date(now.getTime() + hours * 3_600_000);

  const [vms, used, lastRam, schedules, free] = await Promise.all([
    db().vm.findMany({
      where: { hostId },
      select: { id: true, name: true, hostId: true, tags: true, state: true, memoryBytes: true },
    }),
    db().snapshot.groupBy({
      by: ["vmId"],
      where: { hostId, deletedAt: null },
      _sum: { sizeBytes: true },
      _count: { _all: true },
    }),
    db().$queryRaw<Array<{ vmId: string; sizeBytes: bigint }>>`
      SELECT DISTINCT ON ("vmId") "vmId", "sizeBytes" FROM "Snapshot"
      WHERE "hostId" = ${hostId}::uuid AND "deletedAt" IS NULL AND status = 'completed' AND mode IN ('live', 'ram_only') AND "sizeBytes" IS NOT NULL
      ORDER BY "vmId", "finishedAt" DESC NULLS LAST`,
    db().schedule.findMany({
      where: { enabled: true, nextRunAt: { not: null, lte: to } },
      select: { id: true, name: true, cron: true, timezone: true, targets: true, mode: true, nextRunAt: true },
    }),
    readFree(host),
  ]);

  const usedBy = new Map(used.map((u) => [u.vmId, { bytes: Number(u._sum.sizeBytes ?? 0), count: u._count._all }]));
  const lastBy = new Map(lastRam.map((r) => [r.vmId, Number(r.sizeBytes)]));
  const rows: VmStorageJson[] = vms
    .filter((v) => v.state !== "gone" || usedBy.has(v.id))
    .map((v): VmStorageJson => {
      const last = lastBy.get(v.id);
      const ram = v.memoryBytes === null ? undefined : Number(v.memoryBytes);
      return {
        vmId: v.id,
        vmName: v.name,
        state: v.state,
        snapshotCount: usedBy.get(v.id)?.count ?? 0,
        usedBytes: usedBy.get(v.id)?.bytes ?? 0,
        estimateBytes: last ?? ram ?? null,
        estimateBasis: last !== undefined ? "last-snapshot" : ram !== undefined ? "guest-ram" : null,
      };
    })
    .sort((a, b) => b.usedBytes - a.usedBytes || a.vmName.localeCompare(b.vmName));

  const byId = new Map(rows.map((r) => [r.vmId, r]));
  const targetVms: TargetVm[] = vms;
  const firings: StorageFiringJson[] = [];
  for (const s of schedules) {
    const targets = scheduleTargetsSchema.safeParse(s.targets);
    if (!targets.success || !s.nextRunAt) continue;
    const picked = resolveTargets(targets.data, targetVms).vms;
    if (picked.length === 0) continue;
    const mode = fromDbMode(s.mode);
    const estimate = picked.reduce(
      (n, vm) => n + estimateSnapshotBytes(mode, byId.get(vm.id) ?? { estimateBytes: null }),
      0,
    );
    // An overdue nextRunAt fires at once: it counts, as does every later occurrence in the window.
    const occurrences = listOccurrences(s.cron, s.timezone, s.nextRunAt, to, MAX_OCCURRENCES_PER_SCHEDULE);
    for (const at of occurrences.length ? occurrences : [s.nextRunAt]) {
      firings.push({
        scheduleId: s.id,
        scheduleName: s.name,
        at: at.toISOString(),
        mode,
        vmCount: picked.length,
        estimateBytes: estimate,
      });
    }
  }
  firings.sort((a, b) => a.at.localeCompare(b.at) || a.scheduleName.localeCompare(b.scheduleName));

  return {
    hostId: host.id,
    hostName: host.name,
    hostKind: host.kind,
    snapshotDir: host.snapshotDir,
    freeBytes: free.bytes,
    freeError: free.error,
    usedBytes: rows.reduce((n, r) => n + r.usedBytes, 0),
    snapshotCount: rows.reduce((n, r) => n + r.snapshotCount, 0),
    vms: rows,
    forecast: {
      hours,
      from: now.toISOString(),
      to: to.toISOString(),
      firings,
      totalBytes: firings.reduce((n, f) => n + f.estimateBytes, 0),
      warning: storageWarning(free.bytes, firings, hours),
    },
  };
}

async function readFree(
  host: Parameters<typeof hostAccessFor>[0],
): Promise<{ bytes: number | null; error: string | null }> {
  const files = hostAccessFor(host).files;
  if (!files)
    return { bytes: null, error: `a ${host.kind} host gives no file access (QMP only): its free space cannot be read` };
  try {
    return { bytes: await files.freeBytes(host.snapshotDir), error: null };
  } catch (err) {
    return { bytes: null, error: (err as Error).message };
  }
}
