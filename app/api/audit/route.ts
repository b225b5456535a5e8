// GET /api/audit?actor=&action=&targetType=&targetId=&from=&to=&outcome=ok|failed&limit=&cursor= —
// the audit log, newest first, keyset-paginated: { events, nextCursor }. Admins only (route-rules.ts).
import { listAudit } from "@/lib/auth/audit";
import { json, parseQuery, route } from "@/lib/http/respond";
import { auditQuerySchema } from "@/lib/validations/auth";

export const dynamic = "force-dynamic";

export const GET = route(async (req: Request) => {
  const { cursor, ...q } = parseQuery(req, auditQuerySchema);
  return json(await listAudit({ ...q, before: cursor ? BigInt(cursor) : undefined }));
});
