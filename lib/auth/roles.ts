// Roles and what a request presents as its identity. Owns the role order: viewer < operator < admin.
export const ROLES = ["viewer", "operator", "admin"] as const;
export type Role = (typeof ROLES)[number];

export function roleAtLeast(have: Role, need: Role): boolean {
  return ROLES.indexOf(have) >= ROLES.indexOf(need);
}

/** Who is asking, as resolved by the gate from a session cookie or a bearer token. */
export interface Identity {
  kind: "user" | "token";
  id: string;
  name: string;
  role: Role;
  /** Session row id (cookie sessions), for logout and the WebSocket's session check. */
  sessionId?: string;
}

/** The header server.ts sets (after dropping any the client sent) to tell Next who is asking. */
export const IDENTITY_HEADER = "x-snapfleet-identity";
/** The client address as server.ts saw it (never taken from the client). */
export const CLIENT_IP_HEADER = "x-snapfleet-client-ip";

export function encodeIdentity(identity: Identity | null): string {
  return identity ? encodeURIComponent(JSON.stringify(identity)) : "";
}

export function decodeIdentity(value: string | null | undefined): Identity | null {
  if (!value) return null;
  try {
    const parsed = JSON.parse(decodeURIComponent(value)) as Identity;
    return ROLES.includes(parsed.role) ? parsed : null;
  } catch {
    return null;
  }
}
