// GET /api/auth/me — who is asking: { name, role, kind }.
import { identityOf } from "@/lib/auth/request";
import { json, route } from "@/lib/http/respond";

export const dynamic = "force-dynamic";

export const GET = route(async (req: Request) => {
  const me = identityOf(req.headers);
  if (!me) return json({ error: "log in first" }, { status: 401 });
  return json({ name: me.name, role: me.role, kind: me.kind });
});
