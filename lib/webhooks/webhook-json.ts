// The wire shapes of webhooks and their delivery log: what /api/webhooks answers and the settings page
// reads. Client-safe (zod only). A hook's JSON never holds its secret: that is shown once, in the answer
// to a creation or a rotation (WebhookCreatedJson).
import { z } from "zod";

export const webhookJsonSchema = z.object({
  id: z.string(),
  url: z.string(),
  events: z.array(z.string()),
  enabled: z.boolean(),
  createdBy: z.string().nullable(),
  createdAt: z.string(),
  /** The newest delivery's outcome, for the list. */
  lastDelivery: z
    .object({ event: z.string(), status: z.string(), httpStatus: z.number().nullable(), at: z.string() })
    .nullable(),
});
export type WebhookJson = z.infer<typeof webhookJsonSchema>;

export const webhookAttemptJsonSchema = z.object({
  attempt: z.number(),
  at: z.string(),
  httpStatus: z.number().nullable(),
  error: z.string().nullable(),
  durationMs: z.number(),
});
export type WebhookAttemptJson = z.infer<typeof webhookAttemptJsonSchema>;

export const webhookDeliveryJsonSchema = z.object({
  id: z.string(),
  webhookId: z.string(),
  event: z.string(),
  status: z.enum(["pending", "retrying", "succeeded", "failed"]),
  attempt: z.number(),
  httpStatus: z.number().nullable(),
  error: z.string().nullable(),
  durationMs: z.number().nullable(),
  attempts: z.array(webhookAttemptJsonSchema),
  nextAttemptAt: z.string().nullable(),
  createdAt: z.string(),
  finishedAt: z.string().nullable(),
});
export type WebhookDeliveryJson = z.infer<typeof webhookDeliveryJsonSchema>;

/** The answer to a creation: the only place the secret is shown (besides a rotation's answer). */
export const webhookCreatedJsonSchema = z.object({
  webhook: webhookJsonSchema,
  secret: z.string().describe("the signing secret, shown once"),
});
export type WebhookCreatedJson = z.infer<typeof webhookCreatedJsonSchema>;

/** The answer to an edit: `secret` only when it was rotated. */
export const webhookUpdatedJsonSchema = z.object({ webhook: webhookJsonSchema, secret: z.string().optional() });

export const webhookListJsonSchema = z.object({ webhooks: z.array(webhookJsonSchema) });
export const webhookDeliveryListJsonSchema = z.object({ deliveries: z.array(webhookDeliveryJsonSchema) });
export const webhookTestJsonSchema = z.object({ delivery: webhookDeliveryJsonSchema });
