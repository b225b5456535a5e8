// Webhook records: registering a URL for some events (admins only: lib/auth/route-rules.ts), listing,
// editing, rotating the secret, removing, and each hook's delivery log.
// Invariants: a hook's URL is absolute http(s) without credentials in it (checked here: 422 with the
// reason); its secret is generated here, returned only by createWebhook and a rotation, and never in
// a listing or a log line; deleting a hook deletes its delivery log (cascade).
import { db } from "../db/client";
import type { Prisma } from "../db/generated/client";
import { InvalidInputError, NotFoundError } from "../errors";
import type { WebhookCreateInput, WebhookUpdateInput } from "../validations/webhook";
import { newWebhookSecret } from "./sign";
import type { WebhookAttemptJson, WebhookCreatedJson, WebhookDeliveryJson, WebhookJson } from "./webhook-json";

/**
 * The URL a hook may post to, or InvalidInputError saying why not. Only http and https: other schemes
 * (file:, ftp:, data:…) are no webhook and would let the dashboard be pointed at local resources.
 * Credentials in the URL are refused: they would be shown and logged like any URL; the signature
 * header is how a receiver authenticates Snapfleet.
 */
export function checkWebhookUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new InvalidInputError(
      `url "${raw.slice(0, 100)}" is not an absolute URL: write it like https://receiver.example.org/hooks/snapfleet`,
    );
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new InvalidInputError(
      `url must start with http:// or https:// (not ${url.protocol}): Snapfleet only POSTs webhooks over HTTP(S)`,
    );
  }
  if (url.username || url.password) {
    throw new InvalidInputError(
      "url must not contain a user name or password: receivers authenticate Snapfleet by the Snapfleet-Signature header",
    );
  }
  if (url.hash) throw new InvalidInputError("url must not contain a #fragment: it is never sent to the receiver");
  return url.toString();
}

const lastDeliveryInclude = {
  deliveries: {
    orderBy: { createdAt: "desc" },
    take: 1,
    select: { event: true, status: true, httpStatus: true, createdAt: true },
  },
} satisfies Prisma.WebhookInclude;

type HookRow = Prisma.WebhookGetPayload<{ include: typeof lastDeliveryInclude }>;

function toWebhookJson(h: HookRow): WebhookJson {
  const last = h.deliveries[0];
  return {
    id: h.id,
    url: h.url,
    events: h.events,
    enabled: h.enabled,
    createdBy: h.createdBy,
    createdAt: h.createdAt.toISOString(),
    lastDelivery: last
      ? { event: last.event, status: last.status, httpStatus: last.httpStatus, at: last.createdAt.toISOString() }
      : null,
  };
}

export async function listWebhooks(): Promise<WebhookJson[]> {
  const rows = await db().webhook.findMany({ orderBy: { createdAt: "asc" }, include: lastDeliveryInclude });
  return rows.map(toWebhookJson);
}

export async function createWebhook(
  input: WebhookCreateInput & { createdBy: string | null },
): Promise<WebhookCreatedJson> {
  const secret = newWebhookSecret();
  const row = await db().webhook.create({
    data: {
      url: checkWebhookUrl(input.url),
      events: [...new Set(input.events)],
      enabled: input.enabled ?? true,
      secret,
      createdBy: input.createdBy,
    },
    include: lastDeliveryInclude,
  });
  return { webhook: toWebhookJson(row), secret };
}

/** Edits a hook; with `rotateSecret` the answer carries the new secret (the old one stops signing at once). */
export async function updateWebhook(
  id: string,
  input: WebhookUpdateInput,
): Promise<{ webhook: WebhookJson; secret?: string }> {
  const secret = input.rotateSecret ? newWebhookSecret() : undefined;
  const data: Prisma.WebhookUpdateInput = {
    ...(input.url !== undefined ? { url: checkWebhookUrl(input.url) } : {}),
    ...(input.events !== undefined ? { events: [...new Set(input.events)] } : {}),
    ...(input.enabled !== undefined ? { enabled: input.enabled } : {}),
    ...(secret ? { secret } : {}),
  };
  const { count } = await db().webhook.updateMany({ where: { id }, data });
  if (count === 0) throw new NotFoundError(`no webhook with id ${id}`);
  const row = await db().webhook.findUniqueOrThrow({ where: { id }, include: lastDeliveryInclude });
  return secret ? { webhook: toWebhookJson(row), secret } : { webhook: toWebhookJson(row) };
}

export async function deleteWebhook(id: string): Promise<void> {
  const { count } = await db().webhook.deleteMany({ where: { id } });
  if (count === 0) throw new NotFoundError(`no webhook with id ${id}`);
}

type DeliveryRow = Prisma.WebhookDeliveryGetPayload<object>;

export function toDeliveryJson(d: DeliveryRow): WebhookDeliveryJson {
  return {
    id: d.id,
    webhookId: d.webhookId,
    event: d.event,
    status: d.status,
    attempt: d.attempt,
    httpStatus: d.httpStatus,
    error: d.error,
    durationMs: d.durationMs,
    attempts: (Array.isArray(d.attempts) ? d.attempts : []) as unknown as WebhookAttemptJson[],
    nextAttemptAt: d.nextAttemptAt?.toISOString() ?? null,
    createdAt: d.createdAt.toISOString(),
    finishedAt: d.finishedAt?.toISOString() ?? null,
  };
}

/** A hook's delivery log, newest first. */
export async function listDeliveries(webhookId: string, limit = 50): Promise<WebhookDeliveryJson[]> {
  const hook = await db().webhook.findUnique({ where: { id: webhookId }, select: { id: true } });
  if (!hook) throw new NotFoundError(`no webhook with id ${webhookId}`);
  const rows = await db().webhookDelivery.findMany({
    where: { webhookId },
    orderBy: [{ createdAt: "desc" }, { id: "desc" }],
    take: limit,
  });
  return rows.map(toDeliveryJson);
}
