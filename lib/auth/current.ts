// The logged-in identity in server components and pages (from the headers server.ts's gate set).
import { headers } from "next/headers";
import { identityOf } from "./request";
import type { Identity } from "./roles";

export async function currentIdentity(): Promise<Identity | null> {
  return identityOf(await headers());
}
