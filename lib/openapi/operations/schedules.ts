// The contract (../registry.ts) of /api/schedules: recurring snapshots, their previews, calendar and runs.
import {
  calendarQuerySchema,
  cronPreviewQuerySchema,
  retentionPreviewQuerySchema,
  scheduleCreateSchema,
  scheduleUpdateSchema,
} from "../../validations/schedule";
import {
  cronPreviewJsonSchema,
  retentionPreviewJsonSchema,
  scheduleCalendarJsonSchema,
  scheduleCreatedJsonSchema,
  scheduleDetailJsonSchema,
  scheduleListJsonSchema,
  scheduleResultJsonSchema,
  scheduleRunStartedJsonSchema,
} from "../responses";
import { noContent, ok, type OperationTable } from "../operation";

export const SCHEDULE_OPERATIONS = {
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
    responses: { 200: ok("The schedule, its recent runs and its next 5 runs.", scheduleDetailJsonSchema) },
  },
  "PATCH /api/schedules/[id]": {
    tag: "schedules",
    summary: "Change a schedule",
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
    responses: { 204: noContent },
  },
  "POST /api/schedules/[id]/run": {
    tag: "schedules",
    summary: "Run a schedule now",
    responses: { 202: ok("The run.", scheduleRunStartedJsonSchema) },
  },
  "GET /api/schedules/[id]/preview-retention": {
    tag: "schedules",
    summary: "Dry run of the retention policy",
    description: "The stored policy, or the one given in the query (as edited before saving).",
    query: retentionPreviewQuerySchema,
    responses: { 200: ok("What would be kept and deleted now, and why.", retentionPreviewJsonSchema) },
  },
} satisfies OperationTable;
