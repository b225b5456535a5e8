// The artifact ledger of a snapshot: every file, directory and internal disk snapshot a snapshot run
// creates on its host, recorded on the row (`Snapshot.artifacts`) BEFORE the run creates it, whatever
// the outcome turns out to be (completed, failed, cancelled, interrupted by a crash). Deletion removes
// exactly what the ledger names — never a directory rebuilt from today's settings, so a renamed VM or a
// changed snapshotDir cannot misdirect a delete.
// Rows written before the ledger existed (external-layer snapshots) get theirs derived from what they
// recorded (files[], diskChain): see legacyArtifacts.
// Invariants: no I/O; parse never throws (malformed entries are dropped); the order is creation
// order, so removing in reverse removes contents before their directory.
import path from "node:path";
import { z } from "zod";

export const artifactSchema = z.discriminatedUnion("kind", [
  /** A directory the run created; removed only when empty. */
  z.object({ kind: z.literal("dir"), path: z.string() }),
  /** A file the run created (vmstate, the sink's status file). */
  z.object({ kind: z.literal("file"), path: z.string(), what: z.enum(["vmstate", "sink-status"]) }),
  /** An internal qcow2 snapshot inside the VM's own disk image. */
  z.object({ kind: z.literal("internal-snapshot"), image: z.string(), name: z.string(), device: z.string() }),
  /** Legacy external layer: an overlay file a pre-ledger snapshot created, merged before removal. */
  z.object({
    kind: z.literal("overlay"),
    path: z.string(),
    /** The image the overlay was layered over (the snapshot's frozen disk); the merge target. */
    base: z.string(),
    device: z.string(),
  }),
]);
export type Artifact = z.infer<typeof artifactSchema>;
export type InternalSnapshotArtifact = Extract<Artifact, { kind: "internal-snapshot" }>;
export type OverlayArtifact = Extract<Artifact, { kind: "overlay" }>;

export function parseArtifacts(raw: unknown): Artifact[] {
  if (!Array.isArray(raw)) return [];
  return raw.flatMap((a) => {
    const r = artifactSchema.safeParse(a);
    return r.success ? [r.data] : [];
  });
}

/** Every internal snapshot Snapfleet takes is named with this prefix and the snapshot's id. */
export const INTERNAL_SNAPSHOT_PREFIX = "snapfleet-";

/** Name of the internal snapshot a Snapfleet snapshot takes in each of its disks' images. */
export function internalSnapshotName(snapshotId: string): string {
  return `${INTERNAL_SNAPSHOT_PREFIX}${snapshotId}`;
}

/** A disk of the run's plan: its qcow2 image and the QEMU node holding it now. */
export interface PlannedDisk {
  device: string;
  image: string;
}

/** The ledger of a new run, in creation order: directory, vmstate + sink status, internal snapshots. */
export function planArtifacts(opts: {
  targetDir: string;
  vmstate?: { file: string; status: string };
  disks: PlannedDisk[];
  snapshotId: string;
}): Artifact[] {
  const out: Artifact[] = [{ kind: "dir", path: opts.targetDir }];
  if (opts.vmstate) {
    out.push(
      { kind: "file", path: opts.vmstate.file, what: "vmstate" },
      { kind: "file", path: opts.vmstate.status, what: "sink-status" },
    );
  }
  for (const d of opts.disks)
    out.push({
      kind: "internal-snapshot",
      image: d.image,
      name: internalSnapshotName(opts.snapshotId),
      device: d.device,
    });
  return out;
}

interface LegacyRow {
  files: unknown;
  diskChain: unknown;
}

/**
 * What a pre-ledger row created, from what it recorded: its vmstate, and per disk the overlay it
 * layered (to merge before removal); the directory is the one those files sit in. A pre-ledger row
 * that recorded nothing (failed or interrupted runs recorded no files) yields nothing: Snapfleet does not
 * guess — and a guess is exactly what once unlinked a VM's active layer.
 */
export function legacyArtifacts(row: LegacyRow, vmstateStatusPath: (file: string) => string): Artifact[] {
  const files = Array.isArray(row.files) ? (row.files as Array<{ path?: unknown; role?: unknown }>) : [];
  const chain = Array.isArray(row.diskChain) ? (row.diskChain as Array<Record<string, unknown>>) : [];
  const out: Artifact[] = [];
  const dirs = new Set<string>();
  for (const f of files) {
    if (f.role !== "vmstate" || typeof f.path !== "string") continue;
    out.push(
      { kind: "file", path: f.path, what: "vmstate" },
      { kind: "file", path: vmstateStatusPath(f.path), what: "sink-status" },
    );
    dirs.add(path.dirname(f.path));
  }
  for (const e of chain) {
    if (typeof e.overlay !== "string" || typeof e.image !== "string") continue;
    out.push({
      kind: "overlay",
      path: e.overlay,
      base: e.image,
      device: typeof e.device === "string" ? e.device : "disk",
    });
    dirs.add(path.dirname(e.overlay));
  }
  return [...[...dirs].map((d): Artifact => ({ kind: "dir", path: d })), ...out];
}

/** An artifact cannot be removed now (in use, or its VM is needed and unreachable); nothing was changed. */
export class RemovalBlockedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RemovalBlockedError";
  }
}

/** One line per artifact, for logs and the deletion journal. */
export function describeArtifact(a: Artifact): string {
  switch (a.kind) {
    case "dir":
      return `directory ${a.path}`;
    case "file":
      return `${a.what === "vmstate" ? "vmstate" : "sink status file"} ${a.path}`;
    case "internal-snapshot":
      return `internal snapshot ${a.name} in ${a.image}`;
    case "overlay":
      return `disk layer ${a.path} (over ${a.base})`;
  }
}
