// The wire shape of GET /api/hosts/{id}/storage (lib/fleet/host-storage.ts): a host's snapshot space
// per VM, the free space of its snapshot directory and the forecast of its next scheduled snapshots.
// Zod, for the OpenAPI document and any client that checks it. Client-safe: imports nothing of the server.
import { z } from "zod";
import { SNAPSHOT_MODES } from "../validations/snapshot";

export const vmStorageJsonSchema = z.object({
  vmId: z.string(),
  vmName: z.string(),
  state: z.string(),
  /** Snapshots of this VM not deleted. */
  snapshotCount: z.number(),
  /** Sum of their recorded sizes (vmstate bytes written into the snapshot directory). */
  usedBytes: z.number(),
  /** Estimated size of this VM's next RAM snapshot; null when neither a snapshot nor its RAM is known. */
  estimateBytes: z.number().nullable(),
  estimateBasis: z.enum(["last-snapshot", "guest-ram"]).nullable(),
});
export type VmStorageJson = z.infer<typeof vmStorageJsonSchema>;

export const storageFiringJsonSchema = z.object({
  scheduleId: z.string(),
  scheduleName: z.string(),
  at: z.string(),
  mode: z.enum(SNAPSHOT_MODES),
  /** VMs of this host the schedule selects. */
  vmCount: z.number(),
  /** What this firing is expected to write into the snapshot directory (0 for disks-only). */
  estimateBytes: z.number(),
});
export type StorageFiringJson = z.infer<typeof storageFiringJsonSchema>;

export const hostStorageJsonSchema = z.object({
  hostId: z.string(),
  hostName: z.string(),
  hostKind: z.string(),
  snapshotDir: z.string(),
  /** null when it could not be read (freeError says why). */
  freeBytes: z.number().nullable(),
  freeError: z.string().nullable(),
  usedBytes: z.number(),
  snapshotCount: z.number(),
  /** Largest use first. */
  vms: z.array(vmStorageJsonSchema),
  forecast: z.object({
    hours: z.number(),
    from: z.string(),
    to: z.string(),
    firings: z.array(storageFiringJsonSchema),
    totalBytes: z.number(),
    /** Set when the forecast's snapshots would need more than the free space. */
    warning: z.string().nullable(),
  }),
});
export type HostStorageJson = z.infer<typeof hostStorageJsonSchema>;
