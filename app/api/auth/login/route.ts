// POST /api/auth/login { name, password } — 204 with the session cookie (httpOnly, SameSite=Strict,
// Secure over HTTPS); 401 on a wrong name or password (which one is not said); 429 with Retry-After
// after too many failures from this address or for this name. Audited here (with the claimed name).
import { recordAudit, type AuditInput } from "@/lib/auth/audit";
import { clientIpOf, signedInResponse } from "@/lib/auth/request";
import { login } from "@/lib/auth/store";
import { errorResponse, parseBody } from "@/lib/http/respond";
import { loginSchema } from "@/lib/validations/auth";

export const dynamic = "force-dynamic";

export async function POST(req: Request): Promise<Response> {
  const ip = clientIpOf(req.headers);
  const audit = (entry: Pick<AuditInput, "identity" | "actorName" | "status" | "error">) =>
    recordAudit({ ...entry, action: "auth.login", method: "POST", path: "/api/auth/login", ip });
  let name = "";
  try {
    const input = await parseBody(req, loginSchema);
    name = input.name;
    const result = await login(input.name, input.password, ip);
    await audit({ identity: result.identity, status: 200 });
    return signedInResponse(result, req.headers);
  } catch (err) {
    const res = errorResponse(err);
    await audit({
      identity: null,
      actorName: name.slice(0, 64) || undefined,
      status: res.status,
      error: res.status === 401 ? "wrong user name or password" : null,
    });
    return res;
  }
}
