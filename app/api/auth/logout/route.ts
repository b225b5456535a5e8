// POST /api/auth/logout — ends this browser's session (the row goes, the cookie is cleared): 204.
import { clearedSessionCookie, readSessionToken } from "@/lib/auth/request";
import { logout } from "@/lib/auth/store";
import { route } from "@/lib/http/respond";

export const dynamic = "force-dynamic";

export const POST = route(async (req: Request) => {
  const token = readSessionToken(req.headers);
  if (token) await logout(token);
  return new Response(null, { status: 204, headers: { "set-cookie": clearedSessionCookie(req.headers) } });
});
