// GET /api/schedules/{id}/preview-retention[?keepLast=&keepHourly=&keepDaily=&keepWeekly=&keepMonthly=
// &keepYearly=&timezone=] — dry run: which snapshots the stored policy (or the one given, as edited
// before saving) would keep and delete right now, each with the rule and period that decides it.
import { json, parseQuery, route } from "@/lib/http/respond";
import { idParam } from "@/lib/http/params";
import { previewRetention } from "@/lib/scheduler/service";
import { retentionPreviewQuerySchema } from "@/lib/validations/schedule";

export const dynamic = "force-dynamic";

type Ctx = { params: Promise<{ id: string }> };

export const GET = route(async (req: Request, { params }: Ctx) => {
  const id = await idParam(params, "schedule");
  const { timezone, ...policy } = parseQuery(req, retentionPreviewQuerySchema);
  const given = Object.values(policy).some((v) => v !== undefined);
  return json(await previewRetention(id, given ? policy : undefined, timezone));
});
