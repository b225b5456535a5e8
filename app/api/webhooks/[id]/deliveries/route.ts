// GET /api/webhooks/{id}/deliveries?limit= — the hook's delivery log, newest first, each delivery with
// every attempt (time, HTTP status or the reason it failed, duration) and when the next one is due.
import { uuidParam } from "@/lib/http/params";
import { json, parseQuery, route } from "@/lib/http/respond";
import { webhookDeliveriesQuerySchema } from "@/lib/validations/webhook";
import { listDeliveries } from "@/lib/webhooks/hooks";

export const dynamic = "force-dynamic";

export const GET = route(async (req: Request, { params }: { params: Promise<{ id: string }> }) => {
  const id = await uuidParam(params, "webhook");
  const { limit } = parseQuery(req, webhookDeliveriesQuerySchema);
  return json({ deliveries: await listDeliveries(id, limit) });
});
