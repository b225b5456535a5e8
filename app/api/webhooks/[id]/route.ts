// PATCH /api/webhooks/{id} { url?, events?, enabled?, rotateSecret?: true } — { webhook, secret? }: a
// rotation answers with the new secret, once. DELETE /api/webhooks/{id} — 204, its delivery log with it.
import { z } from "zod";
import { HttpError, parseBody, route } from "@/lib/http/respond";
import { webhookUpdateSchema } from "@/lib/validations/webhook";
import { deleteWebhook, updateWebhook } from "@/lib/webhooks/hooks";

export const dynamic = "force-dynamic";

type Ctx = { params: Promise<{ id: string }> };

async function webhookId(params: Ctx["params"]): Promise<string> {
  const { id } = await params;
  if (!z.uuid().safeParse(id).success) throw new HttpError(400, "webhook id must be a UUID");
  return id;
}

export const PATCH = route(async (req: Request, { params }: Ctx) => {
  const id = await webhookId(params);
  const updated = await updateWebhook(id, await parseBody(req, webhookUpdateSchema));
  // Not json() when it may carry a rotated secret: shown once, never cached.
  return new Response(JSON.stringify(updated), { headers: { "content-type": "application/json", "cache-control": "no-store" } });
});

export const DELETE = route(async (_req: Request, { params }: Ctx) => {
  await deleteWebhook(await webhookId(params));
  return new Response(null, { status: 204 });
});
