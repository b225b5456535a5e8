// Response shapes of the API routes whose answers had no zod schema of their own (users, tokens, audit,
// discovery, schedules, pause plan, health): written from the TypeScript interfaces the handlers return
// (lib/auth/store.ts, lib/auth/audit.ts, lib/fleet/discovery.ts, lib/scheduler/service.ts, …) so the
// OpenAPI document can describe them. Answers that already had a wire schema (SnapshotJson, VmJson,
// HostJson, RestoreJson, the rollback plan) use those, from next to their serializers.
// Invariant: each schema here accepts what its handler really returns — tests/openapi/responses.test.ts
// calls the real handlers against PostgreSQL and parses their answers with these. Nested values whose
// shape belongs to another module and is not pinned here (a schedule's targets, a pause plan's memory
// facts) are described as open objects rather than guessed.
import { z } from "zod";
import { ROLES } from "../auth/roles";
import { hostJsonSchema } from "../fleet/vm-json";
import { snapshotJsonSchema } from "../snapshots/snapshot-json";
import { SNAPSHOT_MODES } from "../validations/snapshot";

const role = z.enum(ROLES);
const isoDate = z.string().describe("ISO 8601 date-time");
const openObject = z.record(z.string(), z.unknown());

export const healthJsonSchema = z.object({
  ok: z.boolean(),
  db: z.enum(["up", "down"]),
  version: z.string(),
  /** Why the database is down (503 only). */
  reason: z.string().optional(),
});

export const meJsonSchema = z.object({ name: z.string(), role, kind: z.enum(["user", "token"]) });

export const loggedInJsonSchema = z.object({ user: z.object({ name: z.string(), role }) });

export const setupValidJsonSchema = z.object({ valid: z.boolean() });

export const userJsonSchema = z.object({
  id: z.string(),
  name: z.string(),
  role,
  disabled: z.boolean(),
  createdAt: isoDate,
});
export const userListJsonSchema = z.object({ users: z.array(userJsonSchema) });
export const userResultJsonSchema = z.object({ user: userJsonSchema });

export const apiTokenJsonSchema = z.object({
  id: z.string(),
  name: z.string(),
  role,
  createdBy: z.string().nullable(),
  createdAt: isoDate,
  expiresAt: isoDate.nullable(),
  lastUsedAt: isoDate.nullable(),
  revokedAt: isoDate.nullable(),
});
export const apiTokenListJsonSchema = z.object({ tokens: z.array(apiTokenJsonSchema) });
export const apiTokenCreatedJsonSchema = z.object({
  /** The secret: shown in this answer only, send it as `Authorization: Bearer <token>`. */
  token: z.string(),
  info: apiTokenJsonSchema,
});

export const auditEventJsonSchema = z.object({
  id: z.string(),
  at: isoDate,
  actorType: z.string(),
  actorName: z.string().nullable(),
  role: z.string().nullable(),
  action: z.string(),
  method: z.string(),
  path: z.string(),
  targetType: z.string().nullable(),
  targetId: z.string().nullable(),
  ip: z.string().nullable(),
  status: z.number().int(),
  error: z.string().nullable(),
});
export const auditListJsonSchema = z.object({
  events: z.array(auditEventJsonSchema),
  nextCursor: z.string().nullable(),
});

export const hostListJsonSchema = z.object({ hosts: z.array(hostJsonSchema) });

export const discoveryResultJsonSchema = z.object({
  hostId: z.string(),
  ok: z.boolean(),
  error: z.string().optional(),
  found: z.number().int(),
  added: z.number().int(),
  updated: z.number().int(),
  revived: z.number().int(),
  gone: z.number().int(),
  unreachable: z.number().int(),
  durationMs: z.number(),
});

export const savedHostJsonSchema = z.object({
  host: hostJsonSchema,
  /** The first discovery, when it finished within the wait (null: still running). */
  discovery: discoveryResultJsonSchema.nullable(),
});

export const pausePlanJsonSchema = z.object({
  plan: z.object({
    sequence: z.literal("pipelined"),
    resume: z.enum(["qemu", "cont-after-stream"]),
    memory: openObject,
    expectedPauseMs: z.object({ first: z.number(), later: z.number() }),
    reasons: z.array(z.string()),
  }),
  text: z.string(),
});

/** `{ snapshot }` answers of the snapshot actions: take one now, delete, cancel, force-fail. */
export const snapshotResultJsonSchema = z.object({ snapshot: snapshotJsonSchema });

export const cronPreviewJsonSchema = z.object({
  expression: z.string(),
  timezone: z.string(),
  description: z.string(),
  nextRuns: z.array(z.object({ at: isoDate, local: z.string() })),
});

const retentionPolicyJsonSchema = z.object({
  keepLast: z.number().int().optional(),
  keepHourly: z.number().int().optional(),
  keepDaily: z.number().int().optional(),
  keepWeekly: z.number().int().optional(),
  keepMonthly: z.number().int().optional(),
  keepYearly: z.number().int().optional(),
});

export const scheduleJsonSchema = z.object({
  id: z.string(),
  name: z.string(),
  cron: z.string(),
  timezone: z.string(),
  description: z.string(),
  /** As saved: { vmIds } | { hostId } | a tag/name selector (lib/schedule-rules/targets.ts). */
  targets: openObject,
  targetSummary: z.string(),
  mode: z.enum(SNAPSHOT_MODES),
  retention: retentionPolicyJsonSchema,
  retentionSummary: z.string(),
  enabled: z.boolean(),
  busyPolicy: z.string(),
  missedRunPolicy: z.string(),
  staggerSeconds: z.number().int(),
  failureAlertThreshold: z.number().int(),
  verifyNewest: z.boolean(),
  /** Its snapshots freeze the guests' filesystems through the guest agent (docs/quiesce.md). */
  quiesce: z.boolean(),
  consecutiveFailures: z.number().int(),
  flagged: z.boolean(),
  nextRunAt: isoDate.nullable(),
  lastRunAt: isoDate.nullable(),
  lastRun: z
    .object({
      id: z.string(),
      status: z.string(),
      firedAt: isoDate,
      finishedAt: isoDate.nullable(),
      reason: z.string().nullable(),
    })
    .nullable(),
  successRate: z.object({ succeeded: z.number().int(), finished: z.number().int(), rate: z.number().nullable() }),
  createdAt: isoDate,
  updatedAt: isoDate,
});

export const scheduleRunJsonSchema = z.object({
  id: z.string(),
  scheduledFor: isoDate,
  firedAt: isoDate,
  finishedAt: isoDate.nullable(),
  trigger: z.string(),
  status: z.string(),
  reason: z.string().nullable(),
  missedCount: z.number().int(),
  vmCount: z.number().int(),
  prunedCount: z.number().int(),
  items: z.array(
    z.object({
      id: z.string(),
      vmId: z.string(),
      vmName: z.string(),
      hostId: z.string(),
      status: z.string(),
      attempt: z.number().int(),
      notBefore: isoDate,
      snapshotId: z.string().nullable(),
      snapshotStatus: z.string().nullable(),
      reason: z.string().nullable(),
    }),
  ),
});

export const scheduleListJsonSchema = z.object({ schedules: z.array(scheduleJsonSchema) });
export const scheduleCreatedJsonSchema = z.object({ schedule: scheduleJsonSchema, preview: cronPreviewJsonSchema });
export const scheduleResultJsonSchema = z.object({ schedule: scheduleJsonSchema });
export const scheduleDetailJsonSchema = z.object({
  schedule: scheduleJsonSchema,
  runs: z.array(scheduleRunJsonSchema),
  preview: cronPreviewJsonSchema,
});

export const scheduleRunStartedJsonSchema = z.object({
  run: z.object({
    id: z.string(),
    scheduleId: z.string(),
    scheduledFor: isoDate,
    firedAt: isoDate,
    trigger: z.string(),
    status: z.enum(["running", "skipped"]),
    vmCount: z.number().int(),
  }),
});

export const retentionPreviewJsonSchema = z.object({
  policy: retentionPolicyJsonSchema,
  policySummary: z.string(),
  timezone: z.string(),
  keep: z.number().int(),
  prune: z.number().int(),
  snapshots: z.array(
    z.object({
      id: z.string(),
      vmId: z.string(),
      takenAt: isoDate,
      action: z.enum(["keep", "prune"]),
      reason: z.string(),
      rule: z.enum(["keep-last", "hourly", "daily", "weekly", "monthly", "yearly"]).optional(),
      period: z.string().optional(),
    }),
  ),
});

export const scheduleCalendarJsonSchema = z.object({
  from: isoDate,
  to: isoDate,
  hosts: z.array(
    z.object({
      hostId: z.string(),
      hostName: z.string(),
      limit: z.number().int(),
      runs: z.array(
        z.object({
          scheduleId: z.string(),
          scheduleName: z.string(),
          at: isoDate,
          lastStartAt: isoDate,
          vmCount: z.number().int(),
        }),
      ),
      collisions: z.array(
        z.object({ from: isoDate, to: isoDate, concurrent: z.number().int(), schedules: z.array(z.string()) }),
      ),
    }),
  ),
});
