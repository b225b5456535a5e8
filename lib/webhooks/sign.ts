// Webhook signatures (the scheme receivers check; docs/webhooks.md has a verification sample):
//   Snapfleet-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, `${t}.${body}`)>
// as Stripe does: the timestamp is signed with the exact body bytes, so a receiver can refuse a replayed
// or stale request (older than its tolerance, e.g. 5 minutes) as well as a forged one.
// Invariants: every attempt is signed afresh with the time it is sent; the secret never leaves this
// module's callers except in the one answer that shows it (creation, rotation).
import { createHmac, randomBytes } from "node:crypto";

export const SIGNATURE_HEADER = "Snapfleet-Signature";
export const EVENT_HEADER = "Snapfleet-Event";
export const DELIVERY_HEADER = "Snapfleet-Delivery";

/** A new signing secret: 32 random bytes, base64url, with a prefix that says what it is. */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString("base64url")}`;
}

/** The Snapfleet-Signature header value for `body` sent at `at`. */
export function signatureHeader(secret: string, body: string, at: Date): string {
  const t = Math.floor(at.getTime() / 1000);
  const v1 = createHmac("sha256", secret).update(`${t}.${body}`).digest("hex");
  return `t=${t},v1=${v1}`;
}
