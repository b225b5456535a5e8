// Removing one artifact of a snapshot's ledger (artifacts.ts) from its host, after proving nothing uses
// it: a file is removed only when no process holds it open (/proc, lib/fleet/open-files.ts) and it is
// not in the VM's live block graph; an internal disk snapshot is deleted through the QEMU that holds its
// image, or offline when no process does (internal-snapshots.ts); a directory only when empty; a legacy
// external layer is merged into its base first (legacy-layers.ts). Used by deletion (deletion.ts) and by
// the recovery of runs a dead dashboard left behind (recovery.ts).
// Invariants: every removal is idempotent (already absent = done), so a step can be re-run after a
// crash; nothing in use is touched — RemovalBlockedError says who uses it (or what is missing) and
// nothing changes.
import { lstat, rmdir, unlink } from "node:fs/promises";
import type { HostFiles } from "../fleet/host-files";
import { describeHolders, localFileHolders } from "../fleet/open-files";
import type { QmpClient } from "../qmp";
import { describeArtifact, RemovalBlockedError, type Artifact } from "./artifacts";
import { ImageInUseError, deleteInternalSnapshot } from "./internal-snapshots";
import { mergeLegacyLayer } from "./legacy-layers";

export interface RemovalContext {
  /** The VM's session when reachable (deleting internal snapshots live, merging legacy layers, checking its block graph). */
  qmp: QmpClient | undefined;
  files: Pick<HostFiles, "kind">;
  /** The VM's disks no longer match the record and an operator confirmed going on anyway. */
  driftAcknowledged: boolean;
}

/** What removing it did, in words (for the deletion journal). */
export async function removeArtifact(a: Artifact, ctx: RemovalContext): Promise<string> {
  if (ctx.files.kind !== "local") {
    throw new RemovalBlockedError(`${describeArtifact(a)} is on a remote host, where Snapfleet cannot yet prove it unused: nothing was removed`);
  }
  switch (a.kind) {
    case "internal-snapshot":
      try {
        const outcome = await deleteInternalSnapshot(a, ctx.qmp);
        return {
          "deleted-live": `internal snapshot ${a.name} deleted from ${a.image} by the VM's QEMU`,
          "deleted-offline": `internal snapshot ${a.name} deleted from ${a.image} (no process had the image open)`,
          "already-gone": `internal snapshot ${a.name} was not in ${a.image} (already deleted)`,
          "image-gone": `${a.image} no longer exists: nothing to delete`,
        }[outcome];
      } catch (err) {
        if (err instanceof ImageInUseError) throw new RemovalBlockedError(err.message);
        throw err;
      }
    case "overlay": {
      const r = await mergeLegacyLayer(a, ctx);
      if (!r.merged) return r.note;
      await assertUnused(a.path, ctx.qmp);
      await unlink(a.path).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== "ENOENT") throw err;
      });
      return `${r.note}; ${a.path} removed`;
    }
    case "file":
      await assertUnused(a.path, ctx.qmp);
      try {
        await unlink(a.path);
        return `${describeArtifact(a)} removed`;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ENOENT") return `${describeArtifact(a)} was already gone`;
        throw err;
      }
    case "dir":
      try {
        await rmdir(a.path);
        return `${describeArtifact(a)} removed`;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === "ENOENT") return `${describeArtifact(a)} was already gone`;
        if (code === "ENOTEMPTY" || code === "EEXIST") return `${describeArtifact(a)} kept: it holds files this snapshot did not create`;
        throw err;
      }
  }
}

/** Throws RemovalBlockedError when a process holds `p` open or the VM's block graph names it. */
export async function assertUnused(p: string, qmp: QmpClient | undefined): Promise<void> {
  if (!(await lstat(p).catch(() => null))) return;
  if (qmp?.connected) {
    const nodes = await qmp.queryNamedBlockNodes({ flat: true });
    const node = nodes.find((n) => n.file === p || n.image?.filename === p);
    if (node) throw new RemovalBlockedError(`${p} is in use by the VM as block node ${node["node-name"] ?? "(unnamed)"}: it was kept`);
  }
  const holders = (await localFileHolders([p])).get(p);
  if (holders?.length) throw new RemovalBlockedError(`${p} is open by ${describeHolders(holders)}: it was kept`);
}
