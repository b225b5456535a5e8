// POST /api/hosts/{id}/discover — discover the host's VMs now; answers the run's summary
// ({ ok, found, added, updated, revived, gone, unreachable, durationMs, error? }). A run already in
// progress for the host is joined rather than duplicated.
import { discoverHost } from "@/lib/fleet/discovery";
import { loadHost } from "@/lib/fleet/hosts";
import { idParam } from "@/lib/http/params";
import { json, route } from "@/lib/http/respond";

export const dynamic = "force-dynamic";

export const POST = route(async (_req: Request, { params }: { params: Promise<{ id: string }> }) => {
  const id = await idParam(params, "host");
  await loadHost(id);
  return json(await discoverHost(id));
});
