// The webhook port of domain code: snapshots, restores, the scheduler, fleet discovery and the guest
// markers call emitWebhookEvent when something a hook may subscribe to happened. It records one
// delivery row per enabled hook subscribed to the event and enqueues each on pg-boss, in one
// transaction (a row never exists without its queue entry); the delivery worker (deliver.ts) does the HTTP.
// Invariants: never throws and never waits for a receiver — its cost to the caller is one short
// transaction (a SELECT when no hook wants the event); a failure is logged with the event's name and
// the caller goes on. Imports only the database, the queue and the scrubber: domain code importing it
// pulls in no HTTP and no worker.
import { randomUUID } from "node:crypto";
import { fromPrisma } from "pg-boss";
import { db } from "../db/client";
import { requireBoss, WEBHOOK_DELIVERY_QUEUE, type WebhookDeliveryJobData } from "../jobs/boss";
import { logger, type Logger } from "../logger";
import { redactSecrets } from "../security/redact";
import type { WebhookEnvelope, WebhookEventName } from "./events";

/** The exact body of a delivery: BigInt counters as numbers (they stay below 2^53), secrets masked. */
export function envelopeBody(envelope: WebhookEnvelope): string {
  return redactSecrets(JSON.stringify(envelope, (_k, v: unknown) => (typeof v === "bigint" ? Number(v) : v)));
}

/**
 * Records and enqueues `event` for every enabled hook subscribed to it; resolves with how many
 * deliveries were queued (0 on failure, which is logged). Never rejects.
 */
export async function emitWebhookEvent(
  event: WebhookEventName,
  data: Record<string, unknown>,
  log: Pick<Logger, "warn"> = logger,
): Promise<number> {
  try {
    const body = envelopeBody({ id: randomUUID(), type: event, createdAt: new Date().toISOString(), data });
    return await db().$transaction(async (tx) => {
      const rows = await tx.$queryRaw<Array<{ id: string }>>`
        INSERT INTO "WebhookDelivery" (id, "webhookId", event, payload)
        SELECT gen_random_uuid(), w.id, ${event}, ${body} FROM "Webhook" w
        WHERE w.enabled AND ${event} = ANY(w.events)
        RETURNING id`;
      if (rows.length === 0) return 0;
      const jobs = rows.map((r) => ({ data: { deliveryId: r.id } satisfies WebhookDeliveryJobData }));
      await requireBoss().insert(WEBHOOK_DELIVERY_QUEUE, jobs, { db: fromPrisma(tx) });
      return rows.length;
    });
  } catch (err) {
    log.warn({ err, event }, "recording a webhook event failed: its deliveries are lost, the caller goes on");
    return 0;
  }
}
