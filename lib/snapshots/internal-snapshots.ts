// Internal qcow2 snapshots: the disk half of a Snapfleet snapshot (docs/disk-chains.md). The snapshot
// lives inside the VM's own image, so the path in the VM's configuration stays its complete active
// disk after any number of snapshots, and a restart with the VM's unchanged command line loses nothing.
// This module finds which QEMU node holds an image (by file name: node names change with every QEMU
// start, so none is ever stored), lists an image's internal snapshots, and deletes one — live through
// the QEMU that holds the image (`blockdev-snapshot-delete-internal-sync`), or offline with
// `qemu-img snapshot -d` once it is proven that no process holds the image.
// Invariants: deleting an absent snapshot, or one in an image that no longer exists, is "already gone",
// not an error (deletion is retried after crashes); an image held by a process other than the VM's
// QEMU is never touched; qemu-img never writes an image a QEMU holds (its own lock check is a second
// guard behind ours).
import { localHostFiles, type HostFiles } from "../fleet/host-files";
import { describeHolders } from "../fleet/open-files";
import { QmpCommandError, type QmpClient } from "../qmp";
import type { BlockDeviceInfo, ImageInfoSnapshot } from "../qmp/types";

const QEMU_IMG = "qemu-img";

/** An image is held by a process Snapfleet may not act through: nothing was changed. */
export class ImageInUseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ImageInUseError";
  }
}

/** The qcow2 node of a running QEMU whose image is `image` (its format node, not the protocol node). */
export async function findImageNode(qmp: QmpClient, image: string): Promise<BlockDeviceInfo | undefined> {
  const nodes = await qmp.queryNamedBlockNodes({ flat: true });
  return nodes.find((n) => n.drv === "qcow2" && n["node-name"] && (n.image?.filename === image || n.file === image));
}

export type DeleteOutcome = "deleted-live" | "deleted-offline" | "already-gone" | "image-gone";

/**
 * Deletes internal snapshot `name` of `image`. `qmp` is the session of the VM that owns the image, when
 * reachable: if that QEMU has the image open, the snapshot is deleted through it. Otherwise the image
 * must be held by no process at all (local host) and qemu-img deletes it offline.
 */
export async function deleteInternalSnapshot(
  target: { image: string; name: string },
  qmp: QmpClient | undefined,
  /** The image's host (local fs, or SSH: /proc and qemu-img run there); null: QMP only (TLS hosts). */
  files: HostFiles | null = localHostFiles,
): Promise<DeleteOutcome> {
  if (qmp?.connected) {
    const node = await findImageNode(qmp, target.image);
    if (node) {
      if (!(node.image.snapshots ?? []).some((s) => s.name === target.name)) return "already-gone";
      try {
        await qmp.blockdevSnapshotDeleteInternalSync(node["node-name"]!, target.name, { timeoutMs: 10 * 60_000 });
      } catch (err) {
        // Gone between the listing and the command (a concurrent delete): the end state is what we want.
        if (err instanceof QmpCommandError && /not found|can't find/i.test(err.desc)) return "already-gone";
        throw err;
      }
      return "deleted-live";
    }
  }
  if (!files) {
    throw new ImageInUseError(
      `the VM's QEMU does not hold ${target.image} now (or is unreachable), and its host gives Snapfleet only QMP: ` +
        `delete internal snapshot ${target.name} on the host with qemu-img snapshot -d while no process holds the image, or once the VM runs again`,
    );
  }
  if (!(await files.stat(target.image))) return "image-gone";
  const holders = (await files.fileHolders([target.image])).get(target.image);
  if (holders?.length) {
    throw new ImageInUseError(
      `${target.image} is open by ${describeHolders(holders)}, which is not this VM's QEMU as Snapfleet reaches it: ` +
        "its internal snapshot can be deleted only through the process that holds the image",
    );
  }
  const snapshots = await listInternalSnapshotsOffline(target.image, files);
  if (!snapshots.some((s) => s.name === target.name)) return "already-gone";
  await runQemuImg(["snapshot", "-d", target.name, target.image], files);
  return "deleted-offline";
}

/** The internal snapshots of an image no process writes (read with force-share: safe while a QEMU reads it). */
export async function listInternalSnapshotsOffline(
  image: string,
  files: HostFiles = localHostFiles,
): Promise<ImageInfoSnapshot[]> {
  const out = await runQemuImg(["info", "-U", "--output=json", image], files);
  const info = JSON.parse(out) as { snapshots?: ImageInfoSnapshot[] };
  return info.snapshots ?? [];
}

/** qemu-img on the image's host (locally without a shell; over SSH with every argument quoted). */
async function runQemuImg(args: string[], files: HostFiles): Promise<string> {
  try {
    return await files.run([QEMU_IMG, ...args], { timeoutMs: 10 * 60_000 });
  } catch (err) {
    throw new Error(`qemu-img ${args[0]} failed: ${(err as Error).message.replace(/^qemu-img failed: /, "").trim()}`, {
      cause: err,
    });
  }
}
