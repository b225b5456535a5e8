// GET /api/vms?hostId=&q=&state=&sort=&dir=&offset=&limit= — one page of VMs, filtered, searched and
// sorted in the database (lib/validations/vm.ts vmListQuerySchema), with the total and per-state
// counts: { vms, total, offset, limit, stateCounts }.
import { listVms } from "@/lib/fleet/vms";
import { json, parseQuery, route } from "@/lib/http/respond";
import { vmListQuerySchema } from "@/lib/validations/vm";

export const dynamic = "force-dynamic";

export const GET = route(async (req: Request) => json(await listVms(parseQuery(req, vmListQuerySchema))));
