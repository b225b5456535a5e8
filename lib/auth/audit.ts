// The audit log: one row per state-changing request (written by the gate in server.ts after the
// handler answered, with its status) and per login / set-up. Owns recording and the filtered listing
// behind GET /api/audit and /settings/audit.
// Invariants: never holds secrets — no bodies, no query strings, no headers; the error text is
// scrubbed (lib/security/redact.ts) and capped. Recording never throws (a failed write is logged).
import { db } from "../db/client";
import type { Prisma } from "../db/generated/client";
import type { Logger } from "../logger";
import { redactSecrets } from "../security/redact";
import type { Identity, Role } from "./roles";

export interface AuditInput {
  identity: Identity | null;
  /** Overrides the actor when there is no identity (e.g. "setup", or a login's claimed name). */
  actorName?: string;
  action: string;
  method: string;
  path: string;
  target?: { type: string; id: string };
  ip: string | null;
  status: number;
  error?: string | null;
}

/** PostgreSQL text holds no NUL character: one in a client's input is kept visible as `\0`. */
function pgText(s: string): string;
function pgText(s: string | null | undefined): string | null;
function pgText(s: string | null | undefined): string | null {
  return s == null ? null : s.replaceAll("\u0000", "\\0");
}

export async function recordAudit(input: AuditInput, log?: Logger): Promise<void> {
  try {
    await db().auditEvent.create({
      data: {
        actorType: input.identity?.kind ?? (input.actorName === "setup" ? "setup" : "anonymous"),
        actorId: input.identity?.id ?? null,
        actorName: pgText((input.identity?.name ?? input.actorName ?? null)?.slice(0, 128)),
        role: (input.identity?.role as Role | undefined) ?? null,
        action: pgText(input.action.slice(0, 128)),
        method: input.method,
        // The path only (ids are not secret); the query string is dropped.
        path: pgText(redactSecrets(input.path.split("?")[0]!.slice(0, 512))),
        targetType: input.target?.type ?? null,
        targetId: pgText(input.target?.id.slice(0, 64)),
        ip: input.ip,
        status: input.status,
        error: input.error ? pgText(redactSecrets(input.error).slice(0, 500)) : null,
      },
    });
  } catch (err) {
    log?.error({ err, action: input.action }, "writing an audit event failed");
  }
}

export interface AuditQuery {
  actor?: string;
  action?: string;
  targetType?: string;
  targetId?: string;
  from?: Date;
  to?: Date;
  /** Only failures (status ≥ 400) or only successes. */
  outcome?: "ok" | "failed";
  limit?: number;
  /** Keyset cursor: the id of the last row seen. */
  before?: bigint;
}

export interface AuditEventJson {
  id: string;
  at: string;
  actorType: string;
  actorName: string | null;
  role: string | null;
  action: string;
  method: string;
  path: string;
  targetType: string | null;
  targetId: string | null;
  ip: string | null;
  status: number;
  error: string | null;
}

export async function listAudit(q: AuditQuery): Promise<{ events: AuditEventJson[]; nextCursor: string | null }> {
  const limit = Math.min(Math.max(q.limit ?? 100, 1), 500);
  const where: Prisma.AuditEventWhereInput = {
    ...(q.actor ? { actorName: { contains: q.actor, mode: "insensitive" } } : {}),
    ...(q.action ? { action: { startsWith: q.action } } : {}),
    ...(q.targetType ? { targetType: q.targetType } : {}),
    ...(q.targetId ? { targetId: q.targetId } : {}),
    ...(q.from || q.to ? { at: { ...(q.from ? { gte: q.from } : {}), ...(q.to ? { lte: q.to } : {}) } } : {}),
    ...(q.outcome === "ok" ? { status: { lt: 400 } } : q.outcome === "failed" ? { status: { gte: 400 } } : {}),
    ...(q.before !== undefined ? { id: { lt: q.before } } : {}),
  };
  const rows = await db().auditEvent.findMany({ where, orderBy: { id: "desc" }, take: limit + 1 });
  const page = rows.slice(0, limit);
  return {
    events: page.map((r) => ({
      id: r.id.toString(),
      at: r.at.toISOString(),
      actorType: r.actorType,
      actorName: r.actorName,
      role: r.role,
      action: r.action,
      method: r.method,
      path: r.path,
      targetType: r.targetType,
      targetId: r.targetId,
      ip: r.ip,
      status: r.status,
      error: r.error,
    })),
    nextCursor: rows.length > limit ? page[page.length - 1]!.id.toString() : null,
  };
}
