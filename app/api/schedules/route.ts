// GET /api/schedules — every schedule with its next run, last result and success rate.
// POST /api/schedules { name, cron, timezone, targets, mode, retention, … } — 201 { schedule, preview }:
// the preview is the expression in words with its next 5 runs, as the editor showed before saving.
import { json, parseBody, route } from "@/lib/http/respond";
import { previewCron } from "@/lib/schedule-rules/cron";
import { createSchedule, listSchedules } from "@/lib/scheduler/service";
import { scheduleCreateSchema } from "@/lib/validations/schedule";

export const dynamic = "force-dynamic";

export const GET = route(async () => json({ schedules: await listSchedules() }));

export const POST = route(async (req: Request) => {
  const input = await parseBody(req, scheduleCreateSchema);
  const now = new Date();
  const schedule = await createSchedule(input, now);
  return json({ schedule, preview: previewCron(schedule.cron, schedule.timezone, now) }, { status: 201 });
});
