// Disk layers of live snapshots: how overlays are named, and how a layer is merged away again.
// The model (docs/disk-chains.md has the full story and the pictures):
//   - A snapshot S_k with disks runs one `blockdev-snapshot-sync` per writable disk: the disk's active
//     image L_{k-1} freezes and becomes S_k's disk image (what a restore builds on); QEMU creates a new
//     overlay L_k — in S_k's own directory — that takes the guest's writes from then on.
//   - Deleting S_k merges L_k (the overlay S_k created) DOWN into L_{k-1} with `block-commit` (an active
//     commit + pivot when L_k is the VM's active layer), then removes L_k and S_k's directory. The next
//     kept snapshot, whose disk image was L_k, inherits L_{k-1} (same content, one layer fewer).
//   - A snapshot that fails or is cancelled rolls its overlays back the same way right away.
//  So the chain is base ← one layer per kept snapshot ← active; retention bounds it, the original image
//  stays the root, and a merge copies only what the guest wrote between two snapshots.
// Invariants: block jobs are identified by a job id of ours and every wait is bounded; a commit's
// failure is reported with QEMU's own words and leaves both layers in place (nothing is deleted unless
// QEMU reported the job completed without error).
import { createHash } from "node:crypto";
import type { QmpClient, QmpEvent } from "../qmp";
import type { BlockInfo, ImageInfo } from "../qmp/types";

/** One disk's layer as recorded on the Snapshot row (`diskChain`). */
export interface DiskChainEntry {
  /** The guest-visible device (qdev id or drive name), for people. */
  device: string;
  /** Node name of the image holding the disk at the snapshot instant (the former active node). */
  node: string;
  /** That image's path: the snapshot's disk file, frozen from then on. */
  image: string;
  /** Its format (qcow2, raw…): a restore's new top image names it as backing format. */
  format: string;
  /** The overlay this snapshot created, the VM's active layer right after it. */
  overlay: string;
  overlayNode: string;
}

/** Writable disk of a running VM as the snapshot sees it: the active (top) node of its chain. */
export interface WritableDisk {
  device: string;
  node: string;
  file: string;
  format: string;
}

/**
 * Node names are ≤ 31 characters and start with a letter; ours hash the whole snapshot id (64 bits),
 * so two snapshots of one VM never collide even if their ids share a prefix.
 */
export function overlayNodeName(snapshotId: string, index: number): string {
  return `sf${createHash("sha256").update(snapshotId).digest("hex").slice(0, 16)}d${index}`;
}

/** File name of a disk's overlay inside the snapshot's directory. */
export function overlayFileName(index: number, device: string): string {
  const safe = device.replace(/[^A-Za-z0-9_.-]/g, "_").replace(/^\.+/, "").slice(0, 40) || "disk";
  return `disk${index}-${safe}.qcow2`;
}

function deviceLabel(b: BlockInfo): string {
  // -blockdev + -device: no BlockBackend name; qdev is "/machine/peripheral/<id>/virtio-backend" or "<id>".
  if (b.device) return b.device;
  const qdev = b.qdev ?? "";
  const m = /\/machine\/peripheral\/([^/]+)/.exec(qdev);
  return m?.[1] ?? (qdev || b.inserted?.["node-name"] || "disk");
}

/** The VM's writable disks (skips empty drives, CD-ROMs and read-only disks). */
export function writableDisks(blocks: BlockInfo[]): WritableDisk[] {
  const disks: WritableDisk[] = [];
  for (const b of blocks) {
    const ins = b.inserted;
    if (!ins || ins.ro || !ins["node-name"]) continue;
    disks.push({ device: deviceLabel(b), node: ins["node-name"], file: ins.image?.filename ?? ins.file, format: ins.drv });
  }
  return disks;
}

/** Paths of a chain, top first (image, its backing, …). */
export function chainFiles(image: ImageInfo | undefined): string[] {
  const files: string[] = [];
  for (let i = image; i; i = i["backing-image"]) files.push(i.filename);
  return files;
}

export class DiskMergeError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "DiskMergeError";
  }
}

export interface CommitOptions {
  /** The layer to merge away (its data goes into its backing image). */
  overlayNode: string;
  overlayPath: string;
  /** The layer receiving the data: the overlay's backing node. */
  baseNode: string;
  jobId: string;
  timeoutMs?: number;
}

export type CommitKind = "active" | "intermediate";

/**
 * Merges one layer down into its backing image with `block-commit`. When the layer is a device's
 * active image this is an active commit: QEMU mirrors new writes too, reports BLOCK_JOB_READY, and
 * `block-job-complete` pivots the device onto the base; otherwise the job completes by itself and
 * QEMU rewrites the upper layer's backing file name. Works with the guest running or paused.
 * Returns which kind it was; the overlay file is NOT removed (the caller does it once it is unused).
 */
export async function commitLayer(qmp: QmpClient, opts: CommitOptions): Promise<CommitKind> {
  const timeoutMs = opts.timeoutMs ?? 10 * 60_000;
  const blocks = await qmp.queryBlock();
  const owner = blocks.find((b) => b.inserted && chainFiles(b.inserted.image).includes(opts.overlayPath));
  if (!owner?.inserted?.["node-name"]) {
    throw new DiskMergeError(`${opts.overlayPath} is not in any disk chain of this VM: nothing to merge it into`);
  }
  const root = owner.inserted["node-name"];
  const kind: CommitKind = owner.inserted.image.filename === opts.overlayPath ? "active" : "intermediate";
  const ofJob = (ev: QmpEvent) => (ev.data as { device?: string }).device === opts.jobId;
  // Waiters first: QEMU may report before the command's reply (QEMU.md §6). The abort drops the ones
  // left unused (e.g. READY when the job failed at once).
  const waiters = new AbortController();
  const signal = waiters.signal;
  const ready = kind === "active" ? qmp.waitForEvent("BLOCK_JOB_READY", { predicate: ofJob, timeoutMs, signal }) : undefined;
  const done = qmp.waitForEvent(["BLOCK_JOB_COMPLETED", "BLOCK_JOB_CANCELLED"], { predicate: ofJob, timeoutMs, signal });
  const errors: string[] = [];
  const offError = qmp.on("BLOCK_JOB_ERROR", (ev) => {
    if (ofJob(ev)) errors.push(String((ev.data as { operation?: string }).operation ?? "i/o error"));
  });
  try {
    await qmp.execute("block-commit", {
      "job-id": opts.jobId,
      device: root,
      "top-node": opts.overlayNode,
      "base-node": opts.baseNode,
    });
    if (ready) {
      await Promise.race([ready, done]);
      await qmp.execute("block-job-complete", { device: opts.jobId });
    }
    const end = await done;
    const data = end.data as { error?: string };
    if (end.event === "BLOCK_JOB_CANCELLED" || data.error) {
      throw new DiskMergeError(`merging ${opts.overlayPath} failed: ${data.error ?? "the job was cancelled"}`);
    }
    if (errors.length) throw new DiskMergeError(`merging ${opts.overlayPath} hit ${errors.join(", ")} errors`);
    return kind;
  } catch (err) {
    if (err instanceof DiskMergeError) throw err;
    throw new DiskMergeError(`merging ${opts.overlayPath} into its backing image failed: ${(err as Error).message}`, { cause: err });
  } finally {
    offError();
    waiters.abort();
  }
}
