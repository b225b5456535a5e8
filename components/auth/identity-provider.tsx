"use client";
// Who is logged in, for client components: given by the root layout from the identity server.ts's gate
// resolved. Only hides what the role cannot do; the gate enforces it (a hidden button is no guard).
import { createContext, useContext, type ReactNode } from "react";

export type ClientRole = "viewer" | "operator" | "admin";
export interface ClientIdentity {
  name: string;
  role: ClientRole;
}

const IdentityContext = createContext<ClientIdentity | null>(null);
const ORDER: ClientRole[] = ["viewer", "operator", "admin"];

export function IdentityProvider({ identity, children }: { identity: ClientIdentity | null; children: ReactNode }) {
  return <IdentityContext.Provider value={identity}>{children}</IdentityContext.Provider>;
}

export function useIdentity(): ClientIdentity | null {
  return useContext(IdentityContext);
}

/** Whether the logged-in user has at least `role`. */
export function useCan(role: ClientRole): boolean {
  const me = useContext(IdentityContext);
  return Boolean(me && ORDER.indexOf(me.role) >= ORDER.indexOf(role));
}
