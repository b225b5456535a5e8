// GET /api/hosts/{id}/storage — the host's snapshot space per VM, the free space of its snapshot
// directory and the next 24 h of scheduled snapshots with a warning when they would not fit
// (lib/fleet/host-storage.ts HostStorageJson). `?hours=1..168` changes the forecast's window.
import { getHostStorage } from "@/lib/fleet/host-storage";
import { idParam } from "@/lib/http/params";
import { json, parseQuery, route } from "@/lib/http/respond";
import { hostStorageQuerySchema } from "@/lib/validations/host";

export const dynamic = "force-dynamic";

export const GET = route(async (req: Request, { params }: { params: Promise<{ id: string }> }) => {
  const id = await idParam(params, "host");
  const { hours } = parseQuery(req, hostStorageQuerySchema);
  return json(await getHostStorage(id, new Date(), hours));
});
