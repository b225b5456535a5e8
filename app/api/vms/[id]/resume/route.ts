// POST /api/vms/{id}/resume — resumes a guest Snapfleet paused for a snapshot and could not resume
// (lib/snapshots/guest-attention.ts). 200 with the VM; 409 when Snapfleet did not leave it paused (an
// operator's own pause is not undone here), a snapshot of it runs, or it cannot be reached. Audited by
// the gate (lib/auth/route-rules.ts: vm.resume, operator).
import { idParam } from "@/lib/http/params";
import { json, route } from "@/lib/http/respond";
import { logger } from "@/lib/logger";
import { resumeGuestLeftPaused } from "@/lib/snapshots/guest-attention";

export const dynamic = "force-dynamic";

export const POST = route(async (_req: Request, { params }: { params: Promise<{ id: string }> }) =>
  json(await resumeGuestLeftPaused(await idParam(params, "VM"), logger.child({ component: "snapshots" }))),
);
