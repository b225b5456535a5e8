// GET /api/schedules/calendar?hours=24 — the next hours of runs of enabled schedules per host, with the
// stretches where more snapshots are due on a host than its limit (they would queue).
import { json, parseQuery, route } from "@/lib/http/respond";
import { scheduleCalendar } from "@/lib/scheduler/service";
import { calendarQuerySchema } from "@/lib/validations/schedule";

export const dynamic = "force-dynamic";

export const GET = route(async (req: Request) => {
  const { hours } = parseQuery(req, calendarQuerySchema);
  return json(await scheduleCalendar(new Date(), hours));
});
