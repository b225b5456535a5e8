// Removing one artifact of a snapshot's ledger (artifacts.ts) from its host, after proving nothing uses
// it: a file is removed only when no process of its host holds it open (/proc of that host, read locally
// or over SSH: lib/fleet/host-files.ts fileHolders) and it is
// not in the VM's live block graph; an internal disk snapshot is deleted through the QEMU that holds its
// image, or offline when no process does (internal-snapshots.ts); a directory only when empty; a legacy
// external layer is merged into its base first (legacy-layers.ts). Used by deletion (deletion.ts) and by
// the recovery of runs a dead dashboard left behind (recovery.ts).
// Invariants: every removal is idempotent (already absent = done), so a step can be re-run after a
// crash; nothing in use is touched — RemovalBlockedError says who uses it (or what is missing) and
// nothing changes.
import { localHostFiles, type HostFiles } from "../fleet/host-files";
import { describeHolders } from "../fleet/open-files";
import type { QmpClient } from "../qmp";
import { describeArtifact, RemovalBlockedError, type Artifact } from "./artifacts";
import { ImageInUseError, deleteInternalSnapshot } from "./internal-snapshots";
import { mergeLegacyLayer } from "./legacy-layers";

export interface RemovalContext {
  /** The VM's session when reachable (deleting internal snapshots live, merging legacy layers, checking its block graph). */
  qmp: QmpClient | undefined;
  /**
   * The host's files: local fs, or SFTP + /proc read over SSH (lib/fleet/host-files.ts); null when the
   * host gives none (TLS: QMP only — internal snapshots are deleted through the VM's QEMU, nothing else).
   */
  files: HostFiles | null;
  /** The VM's disks no longer match the record and an operator confirmed going on anyway. */
  driftAcknowledged: boolean;
}

/** What removing it did, in words (for the deletion journal). */
export async function removeArtifact(a: Artifact, ctx: RemovalContext): Promise<string> {
  const files = ctx.files;
  if (!files && a.kind !== "internal-snapshot") {
    throw new RemovalBlockedError(
      `${describeArtifact(a)} is on a host that gives Snapfleet only QMP (TLS): nothing was removed`,
    );
  }
  switch (a.kind) {
    case "internal-snapshot":
      try {
        const outcome = await deleteInternalSnapshot(a, ctx.qmp, files);
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
      await assertUnused(a.path, ctx.qmp, files!);
      await files!.unlink(a.path);
      return `${r.note}; ${a.path} removed`;
    }
    case "file":
      await assertUnused(a.path, ctx.qmp, files!);
      return (await files!.unlink(a.path))
        ? `${describeArtifact(a)} removed`
        : `${describeArtifact(a)} was already gone`;
    case "dir": {
      const r = await files!.rmdir(a.path);
      if (r === "absent") return `${describeArtifact(a)} was already gone`;
      if (r === "not-empty") return `${describeArtifact(a)} kept: it holds files this snapshot did not create`;
      return `${describeArtifact(a)} removed`;
    }
  }
}

/** Throws RemovalBlockedError when a process holds `p` open or the VM's block graph names it. */
export async function assertUnused(
  p: string,
  qmp: QmpClient | undefined,
  files: HostFiles = localHostFiles,
): Promise<void> {
  if (!(await files.stat(p).catch(() => null))) return;
  if (qmp?.connected) {
    const nodes = await qmp.queryNamedBlockNodes({ flat: true });
    const node = nodes.find((n) => n.file === p || n.image?.filename === p);
    if (node)
      throw new RemovalBlockedError(
        `${p} is in use by the VM as block node ${node["node-name"] ?? "(unnamed)"}: it was kept`,
      );
  }
  // /proc of the host the file is on (over SSH for SSH hosts): any process holding it open keeps it.
  const holders = (await files.fileHolders([p])).get(p);
  if (holders?.length) throw new RemovalBlockedError(`${p} is open by ${describeHolders(holders)}: it was kept`);
}
