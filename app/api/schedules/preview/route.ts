// GET /api/schedules/preview?cron=…&timezone=…&count=5 — a cron expression in words with its next runs
// in the zone (instants and wall-clock times), for checking before saving. 400 says what is wrong.
import { json, parseQuery, route } from "@/lib/http/respond";
import { previewCron } from "@/lib/schedule-rules/cron";
import { cronPreviewQuerySchema } from "@/lib/validations/schedule";

export const dynamic = "force-dynamic";

export const GET = route(async (req: Request) => {
  const { cron, timezone, count } = parseQuery(req, cronPreviewQuerySchema);
  return json(previewCron(cron, timezone, new Date(), count));
});
