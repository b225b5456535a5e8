// GET /api/schedules/{id} — the schedule, its recent runs (with each VM's outcome and reason) and the
// next 5 runs. PATCH — change any field (nextRunAt recomputed when timing changes). DELETE — 204; the
// snapshots it took stay (unlinked), its run history goes.
import { json, parseBody, route } from "@/lib/http/respond";
import { previewCron } from "@/lib/schedule-rules/cron";
import { idParam } from "@/lib/http/params";
import { deleteSchedule, getSchedule, updateSchedule } from "@/lib/scheduler/service";
import { scheduleUpdateSchema } from "@/lib/validations/schedule";

export const dynamic = "force-dynamic";

type Ctx = { params: Promise<{ id: string }> };

export const GET = route(async (_req: Request, { params }: Ctx) => {
  const { schedule, runs } = await getSchedule(await idParam(params, "schedule"));
  return json({ schedule, runs, preview: previewCron(schedule.cron, schedule.timezone, new Date()) });
});

export const PATCH = route(async (req: Request, { params }: Ctx) => {
  const id = await idParam(params, "schedule");
  const input = await parseBody(req, scheduleUpdateSchema);
  return json({ schedule: await updateSchedule(id, input, new Date()) });
});

export const DELETE = route(async (_req: Request, { params }: Ctx) => {
  await deleteSchedule(await idParam(params, "schedule"));
  return new Response(null, { status: 204 });
});
