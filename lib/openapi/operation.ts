// What one entry of the API's contract (./registry.ts) says about an operation — its tag, words, input
// schemas and answers — and the helpers the entries in ./operations/*.ts are written with.
import type { z } from "zod";
import type { HttpMethod } from "../auth/route-rules";

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
  /** The exact schema object the handler passes to parseQuery. */
  query?: z.ZodType;
  /** The exact schema object the handler passes to parseBody (a JSON body). */
  body?: z.ZodType;
  /** Success answers and the domain errors particular to this route, by status. */
  responses: Record<number, ApiResponse>;
}

export type OperationKey = `${HttpMethod} /api/${string}`;

/** The entries of one part of the API, keyed "<METHOD> <pattern>". */
export type OperationTable = Record<OperationKey, ApiOperation>;

export const ok = (description: string, schema: z.ZodType | null): ApiResponse => ({ description, schema });
export const noContent: ApiResponse = { description: "Done; no body.", schema: null };
