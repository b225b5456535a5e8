// Inputs of the login, first-run set-up, user and API-token routes (and their forms).
import { z } from "zod";
import { ROLES } from "../auth/roles";

export const loginSchema = z.strictObject({
  name: z.string().trim().min(1, "user name is required").max(64),
  password: z.string().min(1, "password is required").max(1024),
});

export const setupSchema = z.strictObject({
  token: z.string().min(1).max(200),
  name: z.string().trim().min(1, "user name is required").max(64),
  password: z.string().max(1024),
});

/** GET /api/auth/setup?token=…: a missing token is simply not valid. */
export const setupQuerySchema = z.object({
  token: z.string().default(""),
});

export const userCreateSchema = z.strictObject({
  name: z.string().trim().min(1).max(64),
  role: z.enum(ROLES),
  password: z.string().max(1024),
});

export const userUpdateSchema = z.strictObject({
  role: z.enum(ROLES).optional(),
  password: z.string().max(1024).optional(),
  disabled: z.boolean().optional(),
});

/** "30d", "12h", "90m" or null/absent for no expiry. */
export const tokenCreateSchema = z.strictObject({
  name: z.string().trim().min(1).max(64),
  role: z.enum(ROLES),
  expiresIn: z
    .string()
    .regex(/^\d{1,5}[mhd]$/, "expiresIn must look like 30d, 12h or 90m")
    .nullable()
    .optional(),
});

export function durationMs(text: string): number {
  const n = Number(text.slice(0, -1));
  return n * { m: 60_000, h: 3_600_000, d: 86_400_000 }[text.slice(-1) as "m" | "h" | "d"];
}

export const auditQuerySchema = z.object({
  actor: z.string().max(128).optional(),
  action: z.string().max(128).optional(),
  targetType: z.enum(["host", "vm", "snapshot", "schedule", "user", "token", "webhook"]).optional(),
  targetId: z.string().max(64).optional(),
  from: z.coerce.date().optional(),
  to: z.coerce.date().optional(),
  outcome: z.enum(["ok", "failed"]).optional(),
  limit: z.coerce.number().int().min(1).max(500).optional(),
  cursor: z
    .string()
    .regex(/^\d{1,19}$/)
    .optional(),
});
