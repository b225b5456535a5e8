// "Snapshot now" for a selection of VMs (the Fleet page, before a patch window): one SnapshotBatch row
// and one ordinary snapshot job per VM, created by createSnapshotJob exactly as the VM page's button
// does — so every refusal rule (gone or shut down, a mode the host kind or a raw disk cannot give, a
// job already running, a rollback or deletion in progress) applies per VM, and every job waits for its
// slot in the worker's admission (admission.ts: per-host and fleet limits). Nothing here runs a job or
// bypasses admission.
// Invariants: one VM's refusal never fails the others — it is returned and stored on the batch with
// the reason; a selection with no VM queued leaves no batch behind (InvalidInputError listing why);
// errors that are not refusals (the database gone) propagate.
import { db } from "../db/client";
import type { Prisma, SnapshotBatch } from "../db/generated/client";
import { DomainError, InvalidInputError, NotFoundError } from "../errors";
import { fromDbMode, toDbMode, type SnapshotBulkCreateInput } from "../validations/snapshot";
import { getLimits } from "./admission";
import {
  batchRefusalJsonSchema,
  type BatchRefusalJson,
  type BulkSnapshotResultJson,
  type SnapshotBatchDetailJson,
  type SnapshotBatchJson,
} from "./batch-json";
import { createSnapshotJob, SnapshotInProgressError } from "./jobs";
import { snapshotInclude, toSnapshotJson } from "./serialize";
import type { SnapshotJson } from "./snapshot-json";

function toBatchJson(row: SnapshotBatch): SnapshotBatchJson {
  const refused = batchRefusalJsonSchema.array().safeParse(row.refused);
  return {
    id: row.id,
    mode: fromDbMode(row.mode),
    note: row.note,
    createdBy: row.createdBy,
    createdAt: row.createdAt.toISOString(),
    refused: refused.success ? refused.data : [],
  };
}

/** Queues one snapshot job per selected VM; see the module header for what is refused and how. */
export async function createSnapshotBatch(
  input: SnapshotBulkCreateInput,
  createdBy: string | null,
): Promise<BulkSnapshotResultJson> {
  const vmIds = [...new Set(input.vmIds)];
  const names = new Map(
    (await db().vm.findMany({ where: { id: { in: vmIds } }, select: { id: true, name: true } })).map((v) => [
      v.id,
      v.name,
    ]),
  );
  const batch = await db().snapshotBatch.create({
    data: { mode: toDbMode(input.mode), note: input.note || null, createdBy },
  });
  const queued: SnapshotJson[] = [];
  const refused: BatchRefusalJson[] = [];
  for (const vmId of vmIds) {
    const vmName = names.get(vmId) ?? null;
    if (vmName === null) {
      refused.push({ vmId, vmName, reason: `no VM with id ${vmId}` });
      continue;
    }
    try {
      queued.push(await createSnapshotJob({ vmId, mode: input.mode, note: input.note, batchId: batch.id }));
    } catch (err) {
      if (!(err instanceof DomainError)) throw err;
      refused.push({
        vmId,
        vmName,
        reason: err.message,
        ...(err instanceof SnapshotInProgressError ? { snapshotId: err.snapshotId } : {}),
      });
    }
  }
  if (queued.length === 0) {
    await db().snapshotBatch.delete({ where: { id: batch.id } });
    throw new InvalidInputError(
      `none of the ${vmIds.length} selected VM${vmIds.length === 1 ? "" : "s"} could be snapshotted: ${refused.map((r) => `${r.vmName ?? r.vmId}: ${r.reason}`).join("; ")}`,
      { refused },
    );
  }
  const row = await db().snapshotBatch.update({
    where: { id: batch.id },
    data: { refused: refused as unknown as Prisma.InputJsonValue },
  });
  return { batch: toBatchJson(row), queued, refused };
}

/** A batch with every job it queued (by VM name, deleted ones left out) and the limits they wait under. */
export async function getSnapshotBatch(id: string): Promise<SnapshotBatchDetailJson> {
  const row = await db().snapshotBatch.findUnique({ where: { id } });
  if (!row) throw new NotFoundError(`no snapshot batch with id ${id}`);
  const snapshots = await db().snapshot.findMany({ where: { batchId: id, deletedAt: null }, include: snapshotInclude });
  const jobs = snapshots
    .map(toSnapshotJson)
    .sort((a, b) => a.vmName.localeCompare(b.vmName) || a.id.localeCompare(b.id));
  const hostIds = [...new Set(jobs.map((s) => s.hostId))];
  // The fleet limit comes with any host's; a batch whose jobs were all deleted asks with no host.
  const limits = await Promise.all(
    (hostIds.length ? hostIds : [""]).map(async (h) => [h, await getLimits(h)] as const),
  );
  return {
    batch: toBatchJson(row),
    snapshots: jobs,
    limits: {
      perHost: Object.fromEntries(limits.filter(([h]) => h).map(([h, l]) => [h, l.host])),
      global: limits[0]![1].global,
    },
  };
}
