// POST /api/snapshots/{id}/force-fail — an operator fails a job that stays in flight (lib/snapshots/
// force-fail.ts): the row is failed at once with who did it; a run still going lets QEMU finish into the
// discard sink (never cut on 7.2). 200 { snapshot }; 409 when the snapshot already ended. Audited by the
// gate (lib/auth/route-rules.ts: snapshot.force-fail, operator).
import { identityOf } from "@/lib/auth/request";
import { json, route } from "@/lib/http/respond";
import { logger } from "@/lib/logger";
import { forceFailSnapshot } from "@/lib/snapshots/force-fail";
import { idParam } from "@/lib/http/params";

export const dynamic = "force-dynamic";

export const POST = route(async (req: Request, { params }: { params: Promise<{ id: string }> }) => {
  const who = identityOf(req.headers);
  const snapshot = await forceFailSnapshot(await idParam(params, "snapshot"), {
    by: who?.name,
    log: logger.child({ component: "snapshots" }),
  });
  return json({ snapshot });
});
