// First-run set-up (the one-time link a start with no admin prints).
// GET /api/auth/setup?token=… — { valid } (the page says so before asking for a password).
// POST /api/auth/setup { token, name, password } — creates the first admin and logs them in: 200 with
// the session cookie; 401 when the link is not valid, used, expired or an admin exists already.
import { recordAudit, type AuditInput } from "@/lib/auth/audit";
import { clientIpOf, signedInResponse } from "@/lib/auth/request";
import { completeSetup, setupTokenValid } from "@/lib/auth/store";
import { errorResponse, json, parseBody, parseQuery, route } from "@/lib/http/respond";
import { setupQuerySchema, setupSchema } from "@/lib/validations/auth";

export const dynamic = "force-dynamic";

export const GET = route(async (req: Request) => {
  const { token } = parseQuery(req, setupQuerySchema);
  return json({ valid: await setupTokenValid(token) });
});

export async function POST(req: Request): Promise<Response> {
  const ip = clientIpOf(req.headers);
  const audit = (entry: Pick<AuditInput, "identity" | "actorName" | "target" | "status">) =>
    recordAudit({ ...entry, action: "auth.setup", method: "POST", path: "/api/auth/setup", ip });
  try {
    const input = await parseBody(req, setupSchema);
    const result = await completeSetup(input.token, input.name, input.password, ip);
    await audit({ identity: result.identity, target: { type: "user", id: result.identity.id }, status: 200 });
    return signedInResponse(result, req.headers);
  } catch (err) {
    const res = errorResponse(err);
    await audit({ identity: null, actorName: "setup", status: res.status });
    return res;
  }
}
