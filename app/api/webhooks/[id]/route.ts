// PATCH /api/webhooks/{id} { url?, events?, enabled?, rotateSecret?: true } — { webhook, secret? }: a
// rotation answers with the new secret, once. DELETE /api/webhooks/{id} — 204, its delivery log with it.
import { uuidParam } from "@/lib/http/params";
import { parseBody, route } from "@/lib/http/respond";
import { webhookUpdateSchema } from "@/lib/validations/webhook";
import { deleteWebhook, updateWebhook } from "@/lib/webhooks/hooks";

export const dynamic = "force-dynamic";

type Ctx = { params: Promise<{ id: string }> };

export const PATCH = route(async (req: Request, { params }: Ctx) => {
  const id = await uuidParam(params, "webhook");
  const updated = await updateWebhook(id, await parseBody(req, webhookUpdateSchema));
  // Not json() when it may carry a rotated secret: shown once, never cached.
  return new Response(JSON.stringify(updated), {
    headers: { "content-type": "application/json", "cache-control": "no-store" },
  });
});

export const DELETE = route(async (_req: Request, { params }: Ctx) => {
  await deleteWebhook(await uuidParam(params, "webhook"));
  return new Response(null, { status: 204 });
});
