// Inputs of the webhook routes and the Settings → Webhooks form (lib/webhooks/hooks.ts). The URL's
// scheme and shape are checked in the domain too (hooks.ts: 422 with the reason), so a bad URL is
// explained the same way whichever path it came by.
import { z } from "zod";
import { WEBHOOK_EVENTS } from "../webhooks/events";

const events = z
  .array(z.enum(WEBHOOK_EVENTS, { error: `each event must be one of ${WEBHOOK_EVENTS.join(", ")}` }))
  .min(1, "choose at least one event")
  .max(WEBHOOK_EVENTS.length);

const url = z.string().trim().min(1, "url is required").max(2048, "url must be at most 2048 characters");

export const webhookCreateSchema = z.strictObject({
  url,
  events,
  enabled: z.boolean().optional(),
});

/** Any subset; `rotateSecret: true` replaces the signing secret and answers with the new one (once). */
export const webhookUpdateSchema = z.strictObject({
  url: url.optional(),
  events: events.optional(),
  enabled: z.boolean().optional(),
  rotateSecret: z.literal(true).optional(),
});

export const webhookDeliveriesQuerySchema = z.object({
  limit: z.coerce.number().int().min(1, "limit must be 1 to 200").max(200, "limit must be 1 to 200").optional(),
});

export type WebhookCreateInput = z.infer<typeof webhookCreateSchema>;
export type WebhookUpdateInput = z.infer<typeof webhookUpdateSchema>;
