// Deleting a snapshot: its files go and its disk layers are merged (docs/disk-chains.md). For each
// disk layer S created, `block-commit` merges S's overlay down into S's disk image through the VM's
// session (an active commit + pivot when the overlay is the VM's active layer), the overlay file is
// removed, and the next kept snapshot whose disk image was that overlay inherits S's image — same
// content, one layer fewer. Then S's directory (vmstate, overlays) is removed and the row is marked
// deleted (kept for history). Used by DELETE /api/snapshots/{id} and by retention.
// Invariants: refuses while the snapshot or another job of the VM runs; holds the advisory lock vm:<id>
// meanwhile so no new snapshot of the VM starts mid-merge; never removes a file QEMU still uses (a
// layer that could not be merged keeps its directory, and the refusal says why).
import { db } from "../db/client";
import type { Prisma } from "../db/generated/client";
import { ConflictError, InvalidInputError, NotFoundError } from "../errors";
import { hostFilesFor } from "../fleet/host-files";
import { getVmSession } from "../fleet/sessions";
import type { Logger } from "../logger";
import { commitLayer, type DiskChainEntry } from "./disk-chain";
import { publishSnapshot, snapshotDirOf } from "./jobs";
import { lockKey, tryAdvisoryLock } from "./locks";
import { snapshotInclude, toSnapshotJson } from "./serialize";
import type { SnapshotFileJson, SnapshotJson } from "./snapshot-json";
import { RUNNING_STATUSES } from "./state-machine";

export async function deleteSnapshot(id: string, opts: { log?: Logger; reason?: string } = {}): Promise<SnapshotJson> {
  const row = await db().snapshot.findUnique({ where: { id }, include: { vm: { include: { host: true } } } });
  if (!row || row.deletedAt) throw new NotFoundError(`no snapshot with id ${id}`);
  if (RUNNING_STATUSES.includes(row.status)) {
    throw new ConflictError(`the snapshot is ${row.status}: cancel it first, or wait for it to finish`, { snapshotId: id, status: row.status });
  }
  const lock = await tryAdvisoryLock(lockKey("vm", row.vmId));
  if (!lock) throw new ConflictError(`another snapshot of VM ${row.vm.name} is being deleted: retry in a moment`, { vmId: row.vmId });
  try {
    const busy = await db().snapshot.findFirst({ where: { vmId: row.vmId, status: { in: [...RUNNING_STATUSES] } }, select: { id: true, status: true } });
    if (busy) {
      throw new ConflictError(`VM ${row.vm.name} has a snapshot in progress (${busy.status}): delete this one once it is done`, { snapshotId: busy.id });
    }
    const chain = (Array.isArray(row.diskChain) ? row.diskChain : []) as unknown as DiskChainEntry[];
    if (row.status === "completed" && chain.length) await mergeLayers(row.vmId, row.vm.name, id, chain, opts.log);
    await hostFilesFor(row.vm.host).remove(snapshotDirOf(row.vm.host, row.vm, id));
    const updated = await db().snapshot.update({ where: { id }, data: { deletedAt: new Date() }, include: snapshotInclude });
    const json = toSnapshotJson(updated);
    await publishSnapshot(json);
    opts.log?.info({ snapshot: id, reason: opts.reason }, "snapshot deleted");
    return json;
  } finally {
    await lock.release();
  }
}

async function mergeLayers(vmId: string, vmName: string, id: string, chain: DiskChainEntry[], log?: Logger): Promise<void> {
  let qmp;
  try {
    qmp = await getVmSession(vmId);
  } catch (err) {
    throw new ConflictError(
      `VM ${vmName} must be reachable to merge this snapshot's disk layers back (${(err as Error).message}); its files were kept`,
      { vmId },
      { cause: err },
    );
  }
  for (const [i, layer] of chain.entries()) {
    try {
      await commitLayer(qmp, {
        overlayNode: layer.overlayNode,
        overlayPath: layer.overlay,
        baseNode: layer.node,
        jobId: `sf-merge-${i}-${id.slice(0, 8)}`,
      });
    } catch (err) {
      throw new InvalidInputError(`cannot delete: ${(err as Error).message}. The snapshot's files were kept`, { snapshotId: id }, { cause: err });
    }
    await inheritLayer(vmId, id, layer);
    log?.info({ snapshot: id, overlay: layer.overlay, into: layer.image }, "disk layer merged");
  }
}

/** The kept snapshot whose disk image was `layer.overlay` now finds that state in `layer.image`. */
async function inheritLayer(vmId: string, deletedId: string, layer: DiskChainEntry): Promise<void> {
  const successors = await db().snapshot.findMany({
    where: { vmId, id: { not: deletedId }, deletedAt: null, status: "completed" },
    select: { id: true, files: true, diskChain: true },
  });
  for (const s of successors) {
    const entries = (Array.isArray(s.diskChain) ? s.diskChain : []) as unknown as DiskChainEntry[];
    if (!entries.some((e) => e.image === layer.overlay)) continue;
    const diskChain = entries.map((e) => (e.image === layer.overlay ? { ...e, image: layer.image, node: layer.node, format: layer.format } : e));
    const files = ((Array.isArray(s.files) ? s.files : []) as unknown as SnapshotFileJson[]).map((f) =>
      f.role === "disk" && f.path === layer.overlay ? { ...f, path: layer.image, node: layer.node, format: layer.format } : f,
    );
    const updated = await db().snapshot.update({
      where: { id: s.id },
      data: { diskChain: diskChain as unknown as Prisma.InputJsonValue, files: files as unknown as Prisma.InputJsonValue },
      include: snapshotInclude,
    });
    await publishSnapshot(toSnapshotJson(updated));
  }
}
