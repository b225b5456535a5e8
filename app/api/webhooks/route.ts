// GET /api/webhooks — every webhook with its newest delivery's outcome (never a secret).
// POST /api/webhooks { url, events[], enabled? } — 201 { webhook, secret }: the signing secret is in
// this answer only (docs/webhooks.md). A URL that is not http(s) or carries credentials: 422 with why.
import { identityOf } from "@/lib/auth/request";
import { json, parseBody, route } from "@/lib/http/respond";
import { webhookCreateSchema } from "@/lib/validations/webhook";
import { createWebhook, listWebhooks } from "@/lib/webhooks/hooks";

export const dynamic = "force-dynamic";

export const GET = route(async () => json({ webhooks: await listWebhooks() }));

export const POST = route(async (req: Request) => {
  const input = await parseBody(req, webhookCreateSchema);
  const created = await createWebhook({ ...input, createdBy: identityOf(req.headers)?.name ?? null });
  // Not json(): this answer is the one place the secret is shown, and it must not be cached.
  return new Response(JSON.stringify(created), {
    status: 201,
    headers: { "content-type": "application/json", "cache-control": "no-store" },
  });
});
