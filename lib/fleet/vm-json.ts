// The wire shapes of hosts and VMs: what GET /api/hosts, GET /api/vms, GET /api/vms/{id} return and
// what the hub publishes on `fleet` and `vm:<id>` (event names below). Zod schemas, so the browser
// checks every payload it receives (lib/realtime/messages.ts checks the frame, these the payload).
// Client-safe: imports nothing from the server side. Dates travel as ISO strings, byte counts as numbers.
import { z } from "zod";
import { launchFactsSchema } from "./launch-json";
import { VM_STATES } from "../validations/vm";

export const vmDiskJsonSchema = z.object({
  /** Block node name to address in QMP (blockdev-snapshot-sync `node-name`). */
  node: z.string(),
  /** The guest device (drive id, or the qdev path/id for -blockdev setups). */
  device: z.string(),
  format: z.string(),
  file: z.string(),
  writable: z.boolean(),
  sizeBytes: z.number().nullable(),
});
export type VmDiskJson = z.infer<typeof vmDiskJsonSchema>;

/**
 * Why this VM's disks cannot be part of a snapshot (live, disks-only), or null. Snapfleet keeps each
 * disk's snapshot inside its qcow2 image (docs/disk-chains.md), so the path in the VM's configuration
 * stays its complete disk; a raw image cannot hold one, and layering it would break the configuration.
 */
export function diskSnapshotBlocker(
  disks: Array<Pick<VmDiskJson, "format" | "writable" | "device" | "file">>,
): string | null {
  const unsupported = disks.filter((d) => d.writable && d.format !== "qcow2");
  if (!unsupported.length) return null;
  const list = unsupported.map((d) => `${d.device} (${d.format}, ${d.file})`).join(", ");
  return (
    `disk${unsupported.length > 1 ? "s" : ""} ${list} ${unsupported.length > 1 ? "are not" : "is not"} qcow2: Snapfleet keeps disk snapshots inside qcow2 images, ` +
    "so only a ram-only snapshot (RAM and device state, no disk state) is possible. Convert the disk with qemu-img convert -O qcow2 to snapshot it"
  );
}

/** The VM's disks no longer match what its snapshots recorded (lib/snapshots/disk-drift.ts). */
export const diskDriftJsonSchema = z.object({
  checkedAt: z.string(),
  findings: z.array(z.string()),
  /** An operator reviewed exactly these findings and allowed destructive actions again. */
  acknowledged: z.boolean(),
});
export type DiskDriftJson = z.infer<typeof diskDriftJsonSchema>;

/** Something about the guest an operator must act on: since when, why, which snapshot caused it. */
function vmAttentionJsonSchema() {
  return z.object({ since: z.string(), reason: z.string(), snapshotId: z.string().nullable() });
}
export type VmAttentionJson = z.infer<ReturnType<typeof vmAttentionJsonSchema>>;

export const vmJsonSchema = z.object({
  id: z.string(),
  hostId: z.string(),
  hostName: z.string(),
  name: z.string(),
  uuid: z.string().nullable(),
  endpoint: z.string(),
  state: z.enum(VM_STATES),
  stateReason: z.string().nullable(),
  qemuVersion: z.string().nullable(),
  memoryBytes: z.number().nullable(),
  disks: z.array(vmDiskJsonSchema),
  tags: z.array(z.string()),
  bgSnapshotSupported: z.boolean(),
  bgSnapshotBlocker: z.string().nullable(),
  /** Why live and disks-only snapshots are impossible for this VM's disks (diskSnapshotBlocker). */
  diskSnapshotBlocker: z.string().nullable(),
  /** The kind of the VM's host (local, ssh, tls). */
  hostKind: z.enum(["local", "ssh", "tls"]).optional(),
  /**
   * Per snapshot mode, why the VM's host kind cannot give it (lib/fleet/host-capabilities.ts), or null:
   * a TLS host gives only QMP, so only disks-only. Shown before the click; the API refuses the same (422).
   */
  hostModeBlockers: z
    .object({ live: z.string().nullable(), "ram-only": z.string().nullable(), "disks-only": z.string().nullable() })
    .nullable()
    .optional(),
  diskDrift: diskDriftJsonSchema.nullable(),
  lastSeenAt: z.string().nullable(),
  goneAt: z.string().nullable(),
  lastSnapshot: z
    .object({ id: z.string(), status: z.string(), createdAt: z.string(), guestPauseMs: z.number().nullable() })
    .nullable()
    .optional(),
  /** The earliest next run of an enabled schedule that targets this VM, when known. */
  nextScheduledAt: z.string().nullable().optional(),
  /** How the VM's QEMU runs (launch-facts.ts): command line, pid, manager. */
  launch: launchFactsSchema.nullable().optional(),
  /** Its snapshots freeze the guest's filesystems through its guest agent by default (docs/quiesce.md). */
  quiesce: z.boolean().optional(),
  /**
   * A background snapshot failed on a QEMU that freezes the guest then (QEMU < 8.1): the guest must be
   * restarted (lib/snapshots/guest-attention.ts). Cleared once its QEMU process changed.
   */
  frozen: vmAttentionJsonSchema().nullable().optional(),
  /** Snapfleet paused the guest for a snapshot and could not resume it: an operator can (POST /api/vms/{id}/resume). */
  pausedBySnapfleet: vmAttentionJsonSchema().nullable().optional(),
});
export type VmJson = z.infer<typeof vmJsonSchema>;

export const hostJsonSchema = z.object({
  id: z.string(),
  name: z.string(),
  kind: z.enum(["local", "ssh", "tls"]),
  socketDir: z.string().nullable(),
  snapshotDir: z.string(),
  address: z.string().nullable(),
  port: z.number().nullable(),
  user: z.string().nullable(),
  privateKeyPath: z.string().nullable(),
  hostKeySha256: z.string().nullable(),
  tlsEndpoints: z.array(z.object({ name: z.string().optional(), host: z.string(), port: z.number() })).nullable(),
  tlsCaPath: z.string().nullable(),
  tlsCertPath: z.string().nullable(),
  tlsKeyPath: z.string().nullable(),
  healthy: z.boolean(),
  healthError: z.string().nullable(),
  lastDiscoveredAt: z.string().nullable(),
  createdAt: z.string(),
  /** VMs per state (gone included). */
  vmCounts: z.record(z.string(), z.number()),
});
export type HostJson = z.infer<typeof hostJsonSchema>;

export const vmListJsonSchema = z.object({
  vms: z.array(vmJsonSchema),
  total: z.number(),
  offset: z.number(),
  limit: z.number(),
  /** VMs per state under the same host/search filter, ignoring the state filter (for filter chips). */
  stateCounts: z.record(z.string(), z.number()),
});
export type VmListJson = z.infer<typeof vmListJsonSchema>;

/** Hub event names. `vm.*` go to `vm:<id>` and `fleet` with a VmJson payload; `host.*` to `fleet`. */
export const FLEET_EVENTS = {
  /** Run state changed (QMP STOP/RESUME/SHUTDOWN, disconnect, discovery). */
  vmState: "vm.state",
  /** Discovery changed details (name, memory, disks, capability) or found the VM (again). */
  vmUpdated: "vm.updated",
  /** Host settings or health changed; payload HostJson. */
  hostUpdated: "host.updated",
  /** Payload { id }. */
  hostRemoved: "host.removed",
  /** Many VMs of a host changed at once (one discovery run): re-read. Payload { hostId, changed }. */
  fleetRefresh: "fleet.refresh",
} as const;

export const hostRemovedPayloadSchema = z.object({ id: z.string() });
