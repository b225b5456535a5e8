// zod schemas for schedules, shared by the schedule editor and the route handlers (app/api/schedules).
// Modes use the wire names of lib/validations/snapshot.ts ("ram-only"); policies are kebab-case words.
import { z } from "zod";
import { isValidTimeZone, normalizeCron, nextRunAfter } from "../schedule-rules/cron";
import { scheduleTargetsSchema } from "../schedule-rules/targets";
import { SNAPSHOT_MODES } from "./snapshot";

export const BUSY_POLICIES = ["wait", "skip"] as const;
export const MISSED_RUN_POLICIES = ["run-once", "skip"] as const;
export type BusyPolicy = (typeof BUSY_POLICIES)[number];
export type MissedRunPolicy = (typeof MISSED_RUN_POLICIES)[number];

const count = (what: string) =>
  z.coerce
    .number({ error: `${what} must be a number` })
    .int(`${what} must be a whole number`)
    .min(0, `${what} must not be negative`)
    .max(10_000, `${what} must be at most 10000`)
    .optional();

export const retentionPolicySchema = z.strictObject({
  keepLast: count("keepLast"),
  keepHourly: count("keepHourly"),
  keepDaily: count("keepDaily"),
  keepWeekly: count("keepWeekly"),
  keepMonthly: count("keepMonthly"),
  keepYearly: count("keepYearly"),
});
export type RetentionPolicyInput = z.infer<typeof retentionPolicySchema>;

export const timezoneSchema = z
  .string()
  .trim()
  .refine(isValidTimeZone, { error: "timezone must be an IANA time zone such as Europe/Berlin" });

/** A cron expression that parses and fires; the message says what is wrong. */
export const cronSchema = z
  .string()
  .trim()
  .max(200, "cron must be at most 200 characters")
  .superRefine((value, ctx) => {
    try {
      nextRunAfter(normalizeCron(value), "UTC", new Date(0));
    } catch (err) {
      ctx.addIssue({ code: "custom", message: (err as Error).message });
    }
  })
  .transform((value) => normalizeCron(value));

const fields = {
  name: z.string().trim().min(1, "name is required").max(100, "name must be at most 100 characters"),
  cron: cronSchema,
  timezone: timezoneSchema,
  targets: scheduleTargetsSchema,
  mode: z.enum(SNAPSHOT_MODES, { error: 'mode must be "live", "ram-only" or "disks-only"' }),
  retention: retentionPolicySchema,
  enabled: z.boolean({ error: "enabled must be true or false" }),
  busyPolicy: z.enum(BUSY_POLICIES, { error: 'busyPolicy must be "wait" or "skip"' }),
  missedRunPolicy: z.enum(MISSED_RUN_POLICIES, { error: 'missedRunPolicy must be "run-once" or "skip"' }),
  staggerSeconds: z
    .number({ error: "staggerSeconds must be a number" })
    .int("staggerSeconds must be a whole number")
    .min(0, "staggerSeconds must not be negative")
    .max(86_400, "staggerSeconds must be at most a day (86400)"),
  failureAlertThreshold: z
    .number({ error: "failureAlertThreshold must be a number" })
    .int("failureAlertThreshold must be a whole number")
    .min(1, "failureAlertThreshold must be at least 1")
    .max(1000, "failureAlertThreshold must be at most 1000"),
  verifyNewest: z.boolean({ error: "verifyNewest must be true or false" }),
  /** Its snapshots freeze the guests' filesystems through their agents (true), or follow each VM's setting (false). */
  quiesce: z.boolean({ error: "quiesce must be true or false" }),
};

export const scheduleCreateSchema = z.strictObject({
  name: fields.name,
  cron: fields.cron,
  timezone: fields.timezone.default("UTC"),
  targets: fields.targets,
  mode: fields.mode.default("live"),
  retention: fields.retention.default({}),
  enabled: fields.enabled.default(true),
  busyPolicy: fields.busyPolicy.default("wait"),
  missedRunPolicy: fields.missedRunPolicy.default("run-once"),
  staggerSeconds: fields.staggerSeconds.default(0),
  failureAlertThreshold: fields.failureAlertThreshold.default(3),
  verifyNewest: fields.verifyNewest.default(false),
  quiesce: fields.quiesce.default(false),
});
export type ScheduleCreateInput = z.infer<typeof scheduleCreateSchema>;

export const scheduleUpdateSchema = z
  .strictObject({
    name: fields.name.optional(),
    cron: fields.cron.optional(),
    timezone: fields.timezone.optional(),
    targets: fields.targets.optional(),
    mode: fields.mode.optional(),
    retention: fields.retention.optional(),
    enabled: fields.enabled.optional(),
    busyPolicy: fields.busyPolicy.optional(),
    missedRunPolicy: fields.missedRunPolicy.optional(),
    staggerSeconds: fields.staggerSeconds.optional(),
    failureAlertThreshold: fields.failureAlertThreshold.optional(),
    verifyNewest: fields.verifyNewest.optional(),
    quiesce: fields.quiesce.optional(),
  })
  .refine((v) => Object.keys(v).length > 0, { error: "nothing to change" });
export type ScheduleUpdateInput = z.infer<typeof scheduleUpdateSchema>;

/** GET /api/schedules/preview?cron=…&timezone=…&count=5 */
export const cronPreviewQuerySchema = z.object({
  cron: fields.cron,
  timezone: fields.timezone.default("UTC"),
  count: z.coerce.number().int().min(1).max(50).default(5),
});

/** GET /api/schedules/{id}/preview-retention[?keepLast=…] — the stored policy unless one is given. */
export const retentionPreviewQuerySchema = retentionPolicySchema.extend({
  timezone: fields.timezone.optional(),
});

/** GET /api/schedules/calendar?hours=24 */
export const calendarQuerySchema = z.object({
  hours: z.coerce.number().int().min(1).max(168).default(24),
});
