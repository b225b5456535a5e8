// POST /api/webhooks/{id}/test — sends a signed `ping` to the hook now (one attempt, no retry, also when
// the hook is disabled) and answers { delivery } as logged: status "succeeded" with the receiver's HTTP
// status, or "failed" with the reason. 200 either way: the request itself worked.
import { uuidParam } from "@/lib/http/params";
import { json, route } from "@/lib/http/respond";
import { sendTestDelivery } from "@/lib/webhooks/deliver";

export const dynamic = "force-dynamic";

export const POST = route(async (_req: Request, { params }: { params: Promise<{ id: string }> }) => {
  const id = await uuidParam(params, "webhook");
  return json({ delivery: await sendTestDelivery(id) });
});
