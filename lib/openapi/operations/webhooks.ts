// The contract (../registry.ts) of /api/webhooks: admins' signed HTTP POSTs and their delivery logs.
import { webhookCreateSchema, webhookDeliveriesQuerySchema, webhookUpdateSchema } from "../../validations/webhook";
import {
  webhookCreatedJsonSchema,
  webhookDeliveryListJsonSchema,
  webhookListJsonSchema,
  webhookTestJsonSchema,
  webhookUpdatedJsonSchema,
} from "../../webhooks/webhook-json";
import { noContent, ok, type OperationTable } from "../operation";

export const WEBHOOK_OPERATIONS = {
  "GET /api/webhooks": {
    tag: "webhooks",
    summary: "List webhooks",
    responses: { 200: ok("Every webhook with its newest delivery's outcome; never a secret.", webhookListJsonSchema) },
  },
  "POST /api/webhooks": {
    tag: "webhooks",
    summary: "Register a webhook",
    description: "The signing secret is in this answer only (docs/webhooks.md: verifying `Snapfleet-Signature`).",
    body: webhookCreateSchema,
    responses: {
      201: ok("The webhook and its signing secret.", webhookCreatedJsonSchema),
      422: ok("The URL is not http(s), not absolute, or carries credentials; the message says why.", null),
    },
  },
  "PATCH /api/webhooks/[id]": {
    tag: "webhooks",
    summary: "Change a webhook's URL, events or enabled flag, or rotate its secret",
    description: "`rotateSecret: true` answers with the new secret, once; the old one stops signing at once.",
    body: webhookUpdateSchema,
    responses: {
      200: ok("The webhook as changed (and the new secret when rotated).", webhookUpdatedJsonSchema),
      422: ok("The new URL is not acceptable; the message says why.", null),
    },
  },
  "DELETE /api/webhooks/[id]": {
    tag: "webhooks",
    summary: "Remove a webhook and its delivery log",
    responses: { 204: noContent },
  },
  "GET /api/webhooks/[id]/deliveries": {
    tag: "webhooks",
    summary: "A webhook's delivery log",
    description:
      "Newest first; each delivery with every attempt (HTTP status or why it failed, duration) and the next attempt's time.",
    query: webhookDeliveriesQuerySchema,
    responses: { 200: ok("The deliveries.", webhookDeliveryListJsonSchema) },
  },
  "POST /api/webhooks/[id]/test": {
    tag: "webhooks",
    summary: "Send a signed test ping now",
    description:
      "One attempt, no retry, also to a disabled hook; answers 200 with the delivery as logged (succeeded, or failed with the reason).",
    responses: { 200: ok("The test delivery.", webhookTestJsonSchema) },
  },
} satisfies OperationTable;
