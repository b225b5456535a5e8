// The API's contract: one entry per app/api route file and HTTP method it exports, from which
// buildOpenApiDocument() (./document.ts) makes the OpenAPI 3.1 document served at GET /api/openapi.json
// and rendered at /api-docs. The role each operation needs is NOT here: it is read from
// lib/auth/route-rules.ts, the table the gate enforces.
//
// HOW TO REGISTER A ROUTE (tests/openapi/openapi.test.ts fails until you do):
//   1. Put the route's zod input schemas in lib/validations/*.ts and export them; the handler passes that
//      exported object itself to parseBody(req, …) / parseQuery(req, …), inside the exported method
//      (e.g. `export const POST = route(async (req) => { const input = await parseBody(req, fooCreateSchema); … })`).
//   2. Add an entry below keyed "<METHOD> <pattern>", the pattern spelled as in the app router and in
//      route-rules.ts ("POST /api/hosts/[id]/discover"), with:
//        tag, summary (one line), description? (what it does, in the route file's words),
//        query / body: the SAME schema objects the handler parses (the test resolves the handler's
//          argument to its export and compares identity — a copy, a local schema or `.extend()` inline
//          fails; a parse call without an entry, or an entry the handler does not parse, fails too),
//        params?: a description per [param] of the pattern (default: the object's UUID),
//        responses: the success status(es) with a zod schema of the body (next to the serializer, e.g.
//          lib/snapshots/snapshot-json.ts, else lib/openapi/responses.ts) or `schema: null` for no body,
//          plus the domain errors the route answers (409, 422, 503…). 400 (with query/body), 401/403
//          (from the role), 404 (with path params) and the error body are added by the generator.
//   3. Its rule in lib/auth/route-rules.ts (the role) — the generator fails loudly without one.
// Removing a route: remove its entry (the test fails for an entry whose route file or method is gone).
import { z } from "zod";
import type { HttpMethod } from "../auth/route-rules";
import { hostJsonSchema, vmJsonSchema, vmListJsonSchema } from "../fleet/vm-json";
import { restoreJsonSchema, restoreListJsonSchema, rollbackPlanJsonSchema } from "../restore/restore-json";
import { snapshotJsonSchema, snapshotListJsonSchema } from "../snapshots/snapshot-json";
import {
  auditQuerySchema,
  loginSchema,
  setupQuerySchema,
  setupSchema,
  tokenCreateSchema,
  userCreateSchema,
  userUpdateSchema,
} from "../validations/auth";
import { hostCreateSchema, hostStorageQuerySchema, hostUpdateSchema } from "../validations/host";
import {
  calendarQuerySchema,
  cronPreviewQuerySchema,
  retentionPreviewQuerySchema,
  scheduleCreateSchema,
  scheduleUpdateSchema,
} from "../validations/schedule";
import {
  diskDriftAcknowledgeSchema,
  snapshotBulkCreateSchema,
  snapshotCreateSchema,
  snapshotListQuerySchema,
} from "../validations/snapshot";
import { vmListQuerySchema, vmQuiesceUpdateSchema, vmUpdateSchema } from "../validations/vm";
import { hostStorageJsonSchema } from "../fleet/host-storage-json";
import { bulkSnapshotResultJsonSchema, snapshotBatchDetailJsonSchema } from "../snapshots/batch-json";
import { webhookCreateSchema, webhookDeliveriesQuerySchema, webhookUpdateSchema } from "../validations/webhook";
import {
  webhookCreatedJsonSchema,
  webhookDeliveryListJsonSchema,
  webhookListJsonSchema,
  webhookTestJsonSchema,
  webhookUpdatedJsonSchema,
} from "../webhooks/webhook-json";
import {
  apiTokenCreatedJsonSchema,
  apiTokenListJsonSchema,
  auditListJsonSchema,
  cronPreviewJsonSchema,
  discoveryResultJsonSchema,
  healthJsonSchema,
  hostListJsonSchema,
  loggedInJsonSchema,
  meJsonSchema,
  pausePlanJsonSchema,
  retentionPreviewJsonSchema,
  savedHostJsonSchema,
  scheduleCalendarJsonSchema,
  scheduleCreatedJsonSchema,
  scheduleDetailJsonSchema,
  scheduleListJsonSchema,
  scheduleResultJsonSchema,
  scheduleRunStartedJsonSchema,
  setupValidJsonSchema,
  userListJsonSchema,
  userResultJsonSchema,
} from "./responses";

export const API_TAGS = {
  health: "Liveness for monitoring.",
  auth: "Log in and out, first-run set-up, who am I.",
  users: "Users and API tokens (admin).",
  audit: "The audit log (admin).",
  hosts: "Hypervisor hosts and VM discovery.",
  vms: "Virtual machines.",
  snapshots: "Snapshot jobs and history.",
  restores: "Rollbacks and sandbox verifications of snapshots.",
  schedules: "Recurring snapshots with retention.",
  meta: "This API's own description.",
  webhooks: "Signed HTTP POSTs to admins' URLs on snapshot, restore, schedule, host and VM events (admin).",
} as const;
export type ApiTag = keyof typeof API_TAGS;

export interface ApiResponse {
  description: string;
  /** The body's schema; null: no body (204, or a body not worth describing). */
  schema: z.ZodType | null;
  /** Defaults to application/json. */
  contentType?: string;
}

export interface ApiOperation {
  tag: ApiTag;
  summary: string;
  description?: string;
  /** Path parameters by name (the pattern's [name] segments): what they identify. */
  params?: Record<string, string>;
  /** The exact schema object the handler passes to parseQuery. */
  query?: z.ZodType;
  /** The exact schema object the handler passes to parseBody (a JSON body). */
  body?: z.ZodType;
  /** Success answers and the domain errors particular to this route, by status. */
  responses: Record<number, ApiResponse>;
}

export type OperationKey = `${HttpMethod} /api/${string}`;

const ok = (description: string, schema: z.ZodType | null): ApiResponse => ({ description, schema });
const noContent: ApiResponse = { description: "Done; no body.", schema: null };

/** `{ snapshot }` answers of the snapshot actions. */
const snapshotResultSchema = z.object({ snapshot: snapshotJsonSchema });
const restoreResultSchema = z.object({ restore: restoreJsonSchema });
const latestVerificationSchema = z.object({ restore: restoreJsonSchema.nullable() });

export const API_OPERATIONS = {
  "GET /api/health": {
    tag: "health",
    summary: "Dashboard and database liveness",
    description: "Version and database up/down, for monitoring; answers without a login.",
    responses: {
      200: ok("The database answers.", healthJsonSchema),
      503: ok("The database does not answer; `reason` says why.", healthJsonSchema),
    },
  },
  "GET /api/openapi.json": {
    tag: "meta",
    summary: "This OpenAPI 3.1 document",
    description: "Generated from the routes' zod schemas (lib/openapi); the same document /api-docs renders.",
    responses: { 200: ok("The OpenAPI 3.1 document.", null) },
  },

  "POST /api/auth/login": {
    tag: "auth",
    summary: "Log in",
    description:
      "Sets the session cookie (httpOnly, SameSite=Strict, Secure over HTTPS). Which of name or password was wrong is not said.",
    body: loginSchema,
    responses: {
      200: ok("Logged in; the session cookie is set.", loggedInJsonSchema),
      429: ok("Too many failures from this address or for this name; Retry-After says when to try again.", null),
    },
  },
  "POST /api/auth/logout": {
    tag: "auth",
    summary: "Log out",
    description: "Ends this browser's session and clears the cookie.",
    responses: { 204: noContent },
  },
  "GET /api/auth/me": {
    tag: "auth",
    summary: "Who is asking",
    responses: { 200: ok("The user or API token behind this request.", meJsonSchema) },
  },
  "GET /api/auth/setup": {
    tag: "auth",
    summary: "Whether a first-run set-up link is valid",
    query: setupQuerySchema,
    responses: { 200: ok("Whether the token can still create the first admin.", setupValidJsonSchema) },
  },
  "POST /api/auth/setup": {
    tag: "auth",
    summary: "Create the first admin",
    description: "With the one-time token a start without an admin prints; logs the new admin in.",
    body: setupSchema,
    responses: {
      200: ok(
        "The admin exists and is logged in (session cookie set); 401 when the link is not valid, used or expired, or an admin exists.",
        loggedInJsonSchema,
      ),
    },
  },

  "GET /api/users": {
    tag: "users",
    summary: "List users",
    responses: { 200: ok("Every user (never a password hash).", userListJsonSchema) },
  },
  "POST /api/users": {
    tag: "users",
    summary: "Create a user",
    body: userCreateSchema,
    responses: {
      201: ok("The new user.", userResultJsonSchema),
      409: ok("The name is taken.", null),
      422: ok("The name or password is not acceptable; the message says why.", null),
    },
  },
  "PATCH /api/users/[id]": {
    tag: "users",
    summary: "Change a user's role, password or disabled flag",
    description: "Ends the user's sessions. The last admin cannot be demoted or disabled (409).",
    params: { id: "the user's UUID (400 when malformed)" },
    body: userUpdateSchema,
    responses: { 200: ok("The user as changed.", userResultJsonSchema), 409: ok("That would leave no admin.", null) },
  },
  "DELETE /api/users/[id]": {
    tag: "users",
    summary: "Delete a user",
    params: { id: "the user's UUID (400 when malformed)" },
    responses: { 204: noContent, 409: ok("The last admin cannot be deleted.", null) },
  },
  "GET /api/tokens": {
    tag: "users",
    summary: "List API tokens",
    responses: { 200: ok("Name, role, expiry, last use; never the secret.", apiTokenListJsonSchema) },
  },
  "POST /api/tokens": {
    tag: "users",
    summary: "Create an API token",
    description: "The secret is in this answer only; send it as `Authorization: Bearer <token>`.",
    body: tokenCreateSchema,
    responses: { 201: ok("The token and its record.", apiTokenCreatedJsonSchema) },
  },
  "DELETE /api/tokens/[id]": {
    tag: "users",
    summary: "Revoke an API token",
    params: { id: "the token's UUID (400 when malformed)" },
    responses: { 204: noContent },
  },
  "GET /api/audit": {
    tag: "audit",
    summary: "The audit log",
    description: "Newest first, keyset-paginated: pass `nextCursor` back as `cursor`.",
    query: auditQuerySchema,
    responses: { 200: ok("One page of events.", auditListJsonSchema) },
  },

  "GET /api/hosts": {
    tag: "hosts",
    summary: "List hosts",
    responses: { 200: ok("Every host with its health and VM counts per state.", hostListJsonSchema) },
  },
  "POST /api/hosts": {
    tag: "hosts",
    summary: "Add a host",
    description:
      "The host is checked against reality first (per-field details), then discovered; `discovery` is null if still running after 10 s.",
    body: hostCreateSchema,
    responses: {
      201: ok("The host and its first discovery.", savedHostJsonSchema),
      422: ok(
        "The host failed its checks (name taken, unreachable socket dir, bad key, host key to confirm…); `details` per field.",
        null,
      ),
    },
  },
  "GET /api/hosts/[id]": {
    tag: "hosts",
    summary: "One host",
    params: { id: "the host's UUID" },
    responses: { 200: ok("The host.", hostJsonSchema) },
  },
  "GET /api/hosts/[id]/storage": {
    tag: "hosts",
    summary: "A host's snapshot storage and whether the next scheduled snapshots fit",
    description:
      "Snapshot space used per VM (recorded sizes of the snapshots not deleted), free space of the snapshot directory (statfs / SFTP statvfs; null with `freeError` when it cannot be read, e.g. TLS hosts), and every enabled schedule's firings in the next `hours` with an estimate per firing; `forecast.warning` is set when they would need more than the free space.",
    params: { id: "the host's UUID" },
    query: hostStorageQuerySchema,
    responses: { 200: ok("The host's storage and forecast.", hostStorageJsonSchema) },
  },
  "PATCH /api/hosts/[id]": {
    tag: "hosts",
    summary: "Change a host",
    description:
      "Fields of the host's kind; the result is checked like an add, then rediscovered. `repinHostKey: true` accepts the SSH host key presented now.",
    params: { id: "the host's UUID" },
    body: hostUpdateSchema,
    responses: {
      200: ok("The host and its discovery.", savedHostJsonSchema),
      422: ok("The changed host failed its checks (name taken, fields of another kind…); `details` per field.", null),
    },
  },
  "DELETE /api/hosts/[id]": {
    tag: "hosts",
    summary: "Remove a host",
    description: "Removes the host with its VM rows and snapshot records; files stay on the host.",
    params: { id: "the host's UUID" },
    responses: { 204: noContent, 409: ok("One of its snapshots is in progress.", null) },
  },
  "POST /api/hosts/[id]/discover": {
    tag: "hosts",
    summary: "Discover the host's VMs now",
    description: "A run already in progress for the host is joined rather than duplicated.",
    params: { id: "the host's UUID" },
    responses: { 200: ok("The run's summary.", discoveryResultJsonSchema) },
  },

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
    params: { id: "the VM's UUID" },
    responses: { 200: ok("The VM (the shape `vm:<id>` events carry).", vmJsonSchema) },
  },
  "PATCH /api/vms/[id]": {
    tag: "vms",
    summary: "Set a VM's tags",
    description:
      "Replaces the VM's tags (trimmed, duplicates dropped); schedule selectors and the Fleet page's tag filter match them. Discovery never changes them. Published as `vm.updated` on `vm:<id>` and `fleet`.",
    params: { id: "the VM's UUID" },
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
    params: { id: "the VM's UUID" },
    responses: { 200: ok("The plan and its explanation.", pausePlanJsonSchema) },
  },
  "GET /api/vms/[id]/snapshots": {
    tag: "snapshots",
    summary: "A VM's snapshot history",
    description: "Same query and shape as GET /api/snapshots, for one VM (`vmId` is the path's).",
    params: { id: "the VM's UUID" },
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
    params: { id: "the VM's UUID" },
    body: snapshotCreateSchema,
    responses: {
      202: ok("The job is queued.", snapshotResultSchema),
      409: ok("The VM already has a snapshot in progress; `details.snapshotId` names it.", null),
      422: ok("The VM or its host cannot take this mode (host kind, disk formats…); the message says why.", null),
    },
  },
  "POST /api/vms/[id]/resume": {
    tag: "vms",
    summary: "Resume a guest Snapfleet left paused",
    params: { id: "the VM's UUID" },
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
    params: { id: "the VM's UUID" },
    body: vmQuiesceUpdateSchema,
    responses: { 200: ok("The VM with its new setting.", z.object({ vm: vmJsonSchema })) },
  },
  "POST /api/vms/[id]/disk-drift/check": {
    tag: "vms",
    summary: "Re-check the VM's disks against its snapshots' records",
    params: { id: "the VM's UUID" },
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
    params: { id: "the VM's UUID" },
    body: diskDriftAcknowledgeSchema,
    responses: {
      200: ok("The VM.", vmJsonSchema),
      409: ok("The findings changed since they were shown; `details.vm` is the VM now.", null),
    },
  },
  "GET /api/vms/[id]/restores": {
    tag: "restores",
    summary: "A VM's rollbacks and verifications",
    params: { id: "the VM's UUID" },
    responses: { 200: ok("Newest first.", restoreListJsonSchema) },
  },

  "GET /api/snapshots": {
    tag: "snapshots",
    summary: "Fleet-wide snapshot history",
    description:
      "Newest first, keyset-paginated: pass `nextCursor` back as `cursor` (`null` on the last page; there is no total count).",
    query: snapshotListQuerySchema,
    responses: {
      200: ok("One page of snapshots.", snapshotListJsonSchema),
      422: ok("`cursor` is not one this API returned.", null),
    },
  },
  "POST /api/snapshots/bulk": {
    tag: "snapshots",
    summary: "Snapshot now for a selection of VMs",
    description:
      "One job per VM (a batch), each queued like `POST /api/vms/{id}/snapshots` and admitted under the host and fleet limits. A VM that cannot be snapshotted (raw disk for its mode, busy, shut down, unknown) is refused with its reason without failing the others. Follow the jobs at `GET /api/snapshots/batches/{batch.id}` and on `snapshot:<id>`.",
    body: snapshotBulkCreateSchema,
    responses: {
      202: ok("Every VM was queued.", bulkSnapshotResultJsonSchema),
      207: ok("Some VMs were queued, others refused (`refused[]` with reasons).", bulkSnapshotResultJsonSchema),
      422: ok("No VM could be queued; `details.refused` says why for each.", null),
    },
  },
  "GET /api/snapshots/batches/[id]": {
    tag: "snapshots",
    summary: "A Snapshot now batch and its jobs",
    description:
      "The batch (mode, who asked, the VMs refused and why), every job it queued by VM name, and the running-snapshot limits queued jobs wait under.",
    params: { id: "the batch's UUID" },
    responses: { 200: ok("The batch and its jobs.", snapshotBatchDetailJsonSchema) },
  },
  "GET /api/snapshots/[id]": {
    tag: "snapshots",
    summary: "One snapshot",
    params: { id: "the snapshot's UUID" },
    responses: { 200: ok("The snapshot (the shape `snapshot:<id>` events carry).", snapshotJsonSchema) },
  },
  "DELETE /api/snapshots/[id]": {
    tag: "snapshots",
    summary: "Delete a snapshot",
    description: "Removes exactly what the snapshot created, each piece once proven unused; crash-safe and idempotent.",
    params: { id: "the snapshot's UUID" },
    responses: {
      200: ok("The snapshot as deleted.", snapshotResultSchema),
      409: ok(
        "It is running, its VM is busy, its VM's disks drifted unacknowledged, or a step is blocked (reason on the journal).",
        null,
      ),
    },
  },
  "POST /api/snapshots/[id]/cancel": {
    tag: "snapshots",
    summary: "Cancel a snapshot job",
    description:
      "A queued job is cancelled at once; a running one stops safely (QEMU finishes into a discarding sink, then rolls back).",
    params: { id: "the snapshot's UUID" },
    responses: {
      202: ok("Cancellation requested.", snapshotResultSchema),
      409: ok("The snapshot already ended.", null),
    },
  },
  "POST /api/snapshots/[id]/force-fail": {
    tag: "snapshots",
    summary: "Fail a job that stays in flight",
    params: { id: "the snapshot's UUID" },
    responses: { 200: ok("The snapshot, failed.", snapshotResultSchema), 409: ok("The snapshot already ended.", null) },
  },
  "GET /api/snapshots/[id]/restore": {
    tag: "restores",
    summary: "The rollback plan",
    description:
      "What is lost and kept, cold boot or RAM state, and — when Snapfleet will not do it — why, with the commands to run by hand.",
    params: { id: "the snapshot's UUID" },
    responses: { 200: ok("The plan.", rollbackPlanJsonSchema) },
  },
  "POST /api/snapshots/[id]/restore": {
    tag: "restores",
    summary: "Roll the VM back to the snapshot",
    params: { id: "the snapshot's UUID" },
    responses: {
      202: ok("The rollback is queued; follow it on `restore:<id>`.", restoreResultSchema),
      409: ok("A snapshot, rollback or verification of the VM runs.", null),
      422: ok("Refused; `details.refusal` has the reason and the commands.", null),
    },
  },
  "GET /api/snapshots/[id]/verify": {
    tag: "restores",
    summary: "The snapshot's latest verification",
    params: { id: "the snapshot's UUID" },
    responses: { 200: ok("The latest verification, or null.", latestVerificationSchema) },
  },
  "POST /api/snapshots/[id]/verify": {
    tag: "restores",
    summary: "Verify the snapshot in a sandbox",
    params: { id: "the snapshot's UUID" },
    responses: {
      202: ok("The verification is queued.", restoreResultSchema),
      409: ok("A restore of its VM runs.", null),
      422: ok("It cannot be verified (ram-only, remote host…).", null),
    },
  },
  "GET /api/snapshots/[id]/verify/screenshot": {
    tag: "restores",
    summary: "Console picture of the latest successful verification",
    params: { id: "the snapshot's UUID" },
    responses: { 200: { description: "A PNG.", schema: null, contentType: "image/png" } },
  },
  "GET /api/restores/[id]": {
    tag: "restores",
    summary: "One rollback or verification",
    params: { id: "the restore's UUID" },
    responses: { 200: ok("The restore (the shape `restore:<id>` events carry).", restoreJsonSchema) },
  },

  "GET /api/schedules": {
    tag: "schedules",
    summary: "List schedules",
    responses: { 200: ok("Every schedule with its next run, last result and success rate.", scheduleListJsonSchema) },
  },
  "POST /api/schedules": {
    tag: "schedules",
    summary: "Create a schedule",
    body: scheduleCreateSchema,
    responses: {
      201: ok("The schedule and its cron preview.", scheduleCreatedJsonSchema),
      409: ok("A schedule with this name exists.", null),
      422: ok("A target does not exist or cannot take the mode.", null),
    },
  },
  "GET /api/schedules/preview": {
    tag: "schedules",
    summary: "A cron expression in words with its next runs",
    query: cronPreviewQuerySchema,
    responses: { 200: ok("The preview.", cronPreviewJsonSchema) },
  },
  "GET /api/schedules/calendar": {
    tag: "schedules",
    summary: "The next hours of runs per host, with collisions",
    query: calendarQuerySchema,
    responses: { 200: ok("Runs and over-limit stretches per host.", scheduleCalendarJsonSchema) },
  },
  "GET /api/schedules/[id]": {
    tag: "schedules",
    summary: "One schedule",
    params: { id: "the schedule's UUID" },
    responses: { 200: ok("The schedule, its recent runs and its next 5 runs.", scheduleDetailJsonSchema) },
  },
  "PATCH /api/schedules/[id]": {
    tag: "schedules",
    summary: "Change a schedule",
    params: { id: "the schedule's UUID" },
    body: scheduleUpdateSchema,
    responses: {
      200: ok("The schedule as changed.", scheduleResultJsonSchema),
      422: ok("A target does not exist or cannot take the mode.", null),
    },
  },
  "DELETE /api/schedules/[id]": {
    tag: "schedules",
    summary: "Delete a schedule",
    description: "The snapshots it took stay (unlinked); its run history goes.",
    params: { id: "the schedule's UUID" },
    responses: { 204: noContent },
  },
  "POST /api/schedules/[id]/run": {
    tag: "schedules",
    summary: "Run a schedule now",
    params: { id: "the schedule's UUID" },
    responses: { 202: ok("The run.", scheduleRunStartedJsonSchema) },
  },
  "GET /api/schedules/[id]/preview-retention": {
    tag: "schedules",
    summary: "Dry run of the retention policy",
    description: "The stored policy, or the one given in the query (as edited before saving).",
    params: { id: "the schedule's UUID" },
    query: retentionPreviewQuerySchema,
    responses: { 200: ok("What would be kept and deleted now, and why.", retentionPreviewJsonSchema) },
  },

  "GET /api/webhooks": {
    tag: "webhooks",
    summary: "List webhooks",
    responses: { 200: ok("Every webhook with its newest delivery's outcome; never a secret.", webhookListJsonSchema) },
  },
  "POST /api/webhooks": {
    tag: "webhooks",
    summary: "Register a webhook",
    description: "The signing secret is in this answer only (docs/webhooks.md: verifying `Snapfleet-Signature`).",
    body: webhookCreateSchema,
    responses: {
      201: ok("The webhook and its signing secret.", webhookCreatedJsonSchema),
      422: ok("The URL is not http(s), not absolute, or carries credentials; the message says why.", null),
    },
  },
  "PATCH /api/webhooks/[id]": {
    tag: "webhooks",
    summary: "Change a webhook's URL, events or enabled flag, or rotate its secret",
    description: "`rotateSecret: true` answers with the new secret, once; the old one stops signing at once.",
    params: { id: "the webhook's UUID (400 when malformed)" },
    body: webhookUpdateSchema,
    responses: {
      200: ok("The webhook as changed (and the new secret when rotated).", webhookUpdatedJsonSchema),
      422: ok("The new URL is not acceptable; the message says why.", null),
    },
  },
  "DELETE /api/webhooks/[id]": {
    tag: "webhooks",
    summary: "Remove a webhook and its delivery log",
    params: { id: "the webhook's UUID (400 when malformed)" },
    responses: { 204: noContent },
  },
  "GET /api/webhooks/[id]/deliveries": {
    tag: "webhooks",
    summary: "A webhook's delivery log",
    description:
      "Newest first; each delivery with every attempt (HTTP status or why it failed, duration) and the next attempt's time.",
    params: { id: "the webhook's UUID (400 when malformed)" },
    query: webhookDeliveriesQuerySchema,
    responses: { 200: ok("The deliveries.", webhookDeliveryListJsonSchema) },
  },
  "POST /api/webhooks/[id]/test": {
    tag: "webhooks",
    summary: "Send a signed test ping now",
    description:
      "One attempt, no retry, also to a disabled hook; answers 200 with the delivery as logged (succeeded, or failed with the reason).",
    params: { id: "the webhook's UUID (400 when malformed)" },
    responses: { 200: ok("The test delivery.", webhookTestJsonSchema) },
  },
} satisfies Record<OperationKey, ApiOperation>;

/** Splits "POST /api/hosts/[id]" into its method and app-router pattern. */
function parseOperationKey(key: string): { method: HttpMethod; pattern: string } {
  const space = key.indexOf(" ");
  return { method: key.slice(0, space) as HttpMethod, pattern: key.slice(space + 1) };
}

export function operations(): Array<{ key: string; method: HttpMethod; pattern: string; op: ApiOperation }> {
  return Object.entries(API_OPERATIONS as Record<string, ApiOperation>).map(([key, op]) => ({
    key,
    ...parseOperationKey(key),
    op,
  }));
}
