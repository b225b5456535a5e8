// What a route handler or server component knows about the request's asker: the identity and client
// address server.ts's gate resolved and put in headers it owns (lib/server/gated-server.ts drops any a
// client sent). Handlers called directly (tests) see no identity.
import { CLIENT_IP_HEADER, decodeIdentity, IDENTITY_HEADER, type Identity } from "./roles";
import { SESSION_COOKIE, SESSION_TTL_MS } from "./store";

export const SECURE_HEADER = "x-snapfleet-secure";

type HeaderSource = { get(name: string): string | null };

export function identityOf(headers: HeaderSource): Identity | null {
  return decodeIdentity(headers.get(IDENTITY_HEADER));
}

export function clientIpOf(headers: HeaderSource): string {
  return headers.get(CLIENT_IP_HEADER) ?? "unknown";
}

export function sessionCookie(token: string, headers: HeaderSource): string {
  const secure = headers.get(SECURE_HEADER) === "1" ? "; Secure" : "";
  return `${SESSION_COOKIE}=${token}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${Math.floor(SESSION_TTL_MS / 1000)}${secure}`;
}

/** The answer to a log-in or first-run set-up: 200 { user: { name, role } } with the new session cookie. */
export function signedInResponse(
  result: { identity: { name: string; role: string }; sessionToken: string },
  headers: HeaderSource,
): Response {
  return new Response(JSON.stringify({ user: { name: result.identity.name, role: result.identity.role } }), {
    status: 200,
    headers: {
      "content-type": "application/json",
      "set-cookie": sessionCookie(result.sessionToken, headers),
      "cache-control": "no-store",
    },
  });
}

export function clearedSessionCookie(headers: HeaderSource): string {
  const secure = headers.get(SECURE_HEADER) === "1" ? "; Secure" : "";
  return `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0${secure}`;
}

export function readSessionToken(headers: HeaderSource): string | undefined {
  const cookie = headers.get("cookie");
  if (!cookie) return undefined;
  for (const part of cookie.split(";")) {
    const eq = part.indexOf("=");
    if (eq !== -1 && part.slice(0, eq).trim() === SESSION_COOKIE) return part.slice(eq + 1).trim();
  }
  return undefined;
}
