// GET /api/hosts — every host with its health and VM counts per state.
// POST /api/hosts — add a host (body: lib/validations/host.ts hostCreateSchema). The host is checked
// against reality first (422 with per-field details: unreachable socket dir, bad key, host key…),
// then discovered; answers 201 { host, discovery } (discovery null if still running after 10 s).
import { createHost, listHosts } from "@/lib/fleet/hosts";
import { json, parseBody, route } from "@/lib/http/respond";
import { hostCreateSchema } from "@/lib/validations/host";

export const dynamic = "force-dynamic";

export const GET = route(async () => json({ hosts: await listHosts() }));

export const POST = route(async (req: Request) => {
  const input = await parseBody(req, hostCreateSchema);
  return json(await createHost(input), { status: 201 });
});
