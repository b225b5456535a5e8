// POST /api/schedules/{id}/run — "run now": a manual run with the targets resolved at this instant,
// through the same fan-out, limits and busy policy as a scheduled one. 202 { run }.
import { json, route } from "@/lib/http/respond";
import { idParam } from "@/lib/http/params";
import { runScheduleNow } from "@/lib/scheduler/runs";
import { wakeScheduler } from "@/lib/scheduler/worker";

export const dynamic = "force-dynamic";

type Ctx = { params: Promise<{ id: string }> };

export const POST = route(async (_req: Request, { params }: Ctx) => {
  const run = await runScheduleNow(await idParam(params, "schedule"), new Date());
  wakeScheduler();
  return json({ run }, { status: 202 });
});
