// The contract (../registry.ts) of /api/vms: VMs, their settings, disk drift, and each VM's snapshots and
// restores.
import { z } from "zod";
import { vmJsonSchema, vmListJsonSchema } from "../../fleet/vm-json";
import { restoreListJsonSchema } from "../../restore/restore-json";
import { snapshotListJsonSchema } from "../../snapshots/snapshot-json";
import { diskDriftAcknowledgeSchema, snapshotCreateSchema, snapshotListQuerySchema } from "../../validations/snapshot";
import { vmListQuerySchema, vmQuiesceUpdateSchema, vmUpdateSchema } from "../../validations/vm";
import { pausePlanJsonSchema, snapshotResultJsonSchema } from "../responses";
import { ok, type OperationTable } from "../operation";

export const VM_OPERATIONS = {
  "GET /api/vms": {
    tag: "vms",
    summary: "List VMs",
    description: "Filtered, searched, sorted and paged in the database, with the total and per-state counts.",
    query: vmListQuerySchema,
    responses: { 200: ok("One page of VMs.", vmListJsonSchema) },
  },
  "GET /api/vms/[id]": {
    tag: "vms",
    summary: "One VM",
    responses: { 200: ok("The VM (the shape `vm:<id>` events carry).", vmJsonSchema) },
  },
  "PATCH /api/vms/[id]": {
    tag: "vms",
    summary: "Set a VM's tags",
    description:
      "Replaces the VM's tags (trimmed, duplicates dropped); schedule selectors and the Fleet page's tag filter match them. Discovery never changes them. Published as `vm.updated` on `vm:<id>` and `fleet`.",
    body: vmUpdateSchema,
    responses: {
      200: ok("The VM with its new tags.", z.object({ vm: vmJsonSchema })),
      422: ok(
        "A tag breaks the rule: 1–32 characters of lowercase letters, digits and - _ . :, at most 20 tags; the message says which.",
        null,
      ),
    },
  },
  "GET /api/vms/[id]/pause-plan": {
    tag: "vms",
    summary: "The guest pause a live snapshot should cost, and why",
    responses: { 200: ok("The plan and its explanation.", pausePlanJsonSchema) },
  },
  "GET /api/vms/[id]/snapshots": {
    tag: "snapshots",
    summary: "A VM's snapshot history",
    description: "Same query and shape as GET /api/snapshots, for one VM (`vmId` is the path's).",
    query: snapshotListQuerySchema,
    responses: {
      200: ok("One page of snapshots, newest first.", snapshotListJsonSchema),
      422: ok("`cursor` is not one this API returned.", null),
    },
  },
  "POST /api/vms/[id]/snapshots": {
    tag: "snapshots",
    summary: "Take a snapshot now",
    description: "Enqueues a snapshot job (status `queued`), followed on `snapshot:<id>` over the WebSocket.",
    body: snapshotCreateSchema,
    responses: {
      202: ok("The job is queued.", snapshotResultJsonSchema),
      409: ok("The VM already has a snapshot in progress; `details.snapshotId` names it.", null),
      422: ok("The VM or its host cannot take this mode (host kind, disk formats…); the message says why.", null),
    },
  },
  "POST /api/vms/[id]/resume": {
    tag: "vms",
    summary: "Resume a guest Snapfleet left paused",
    responses: {
      200: ok("The VM.", vmJsonSchema),
      409: ok("Snapfleet did not leave it paused, a snapshot of it runs, or it cannot be reached.", null),
    },
  },
  "PUT /api/vms/[id]/quiesce": {
    tag: "vms",
    summary: "Set whether a VM's snapshots freeze its filesystems",
    description:
      "Whether the VM's snapshots freeze its filesystems through its QEMU guest agent by default (disks-only snapshots become application-consistent; docs/quiesce.md). A snapshot request's `quiesce` and a quiescing schedule override it. Published as `vm.updated` on `vm:<id>` and `fleet`.",
    body: vmQuiesceUpdateSchema,
    responses: { 200: ok("The VM with its new setting.", z.object({ vm: vmJsonSchema })) },
  },
  "POST /api/vms/[id]/disk-drift/check": {
    tag: "vms",
    summary: "Re-check the VM's disks against its snapshots' records",
    responses: {
      200: ok("The VM; `diskDrift` holds the verdict (null: the disks match).", vmJsonSchema),
      503: ok("The VM could not be reached; its last verdict stays.", null),
    },
  },
  "POST /api/vms/[id]/disk-drift/acknowledge": {
    tag: "vms",
    summary: "Acknowledge the VM's disk drift findings",
    description:
      "Re-checked first; `findings` is the list the operator was shown — when it differs from the current one nothing is acknowledged (409).",
    body: diskDriftAcknowledgeSchema,
    responses: {
      200: ok("The VM.", vmJsonSchema),
      409: ok("The findings changed since they were shown; `details.vm` is the VM now.", null),
    },
  },
  "GET /api/vms/[id]/restores": {
    tag: "restores",
    summary: "A VM's rollbacks and verifications",
    responses: { 200: ok("Newest first.", restoreListJsonSchema) },
  },
} satisfies OperationTable;
