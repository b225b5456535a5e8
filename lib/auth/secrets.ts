// Bearer secrets (session cookies, API tokens, the first-run set-up link): 32 random bytes, base64url,
// with a prefix saying what they are (sfs_ session, sft_ API token, sfu_ set-up) so a leaked one is
// recognisable and scrubbed from logs (lib/security/redact.ts). Only their SHA-256 is stored: the
// secrets have 256 bits of entropy, so a fast hash is enough and lookups stay one indexed equality.
import { createHash, randomBytes } from "node:crypto";

export type SecretKind = "sfs" | "sft" | "sfu";

export function newSecret(kind: SecretKind): string {
  return `${kind}_${randomBytes(32).toString("base64url")}`;
}

export function hashSecret(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}

export function looksLike(kind: SecretKind, secret: string): boolean {
  return (
    secret.startsWith(`${kind}_`) && secret.length >= 40 && secret.length <= 100 && /^[A-Za-z0-9_-]+$/.test(secret)
  );
}
