// The disks of a running VM as a snapshot sees them: its writable disks (the top node and image of each
// device) and the files of a backing chain. Pure functions over query-block replies.
import type { BlockInfo, ImageInfo } from "../qmp/types";

/** Writable disk of a running VM as the snapshot sees it: the active (top) node of its chain. */
export interface WritableDisk {
  device: string;
  node: string;
  file: string;
  format: string;
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
    disks.push({
      device: deviceLabel(b),
      node: ins["node-name"],
      file: ins.image?.filename ?? ins.file,
      format: ins.drv,
    });
  }
  return disks;
}

/** Paths of a chain, top first (image, its backing, …). */
export function chainFiles(image: ImageInfo | undefined): string[] {
  const files: string[] = [];
  for (let i = image; i; i = i["backing-image"]) files.push(i.filename);
  return files;
}
