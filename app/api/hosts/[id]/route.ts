// GET /api/hosts/{id} — one host.
// PATCH /api/hosts/{id} — change fields of the host's kind (hostUpdateSchema); the result is checked
// like an add, then rediscovered. `repinHostKey: true` accepts the SSH host key presented now.
// DELETE /api/hosts/{id} — remove the host with its VM rows and snapshot records (files stay on the
// host); 409 while one of its snapshots is in progress.
import { deleteHost, getHostJson, updateHost } from "@/lib/fleet/hosts";
import { idParam } from "@/lib/http/params";
import { json, parseBody, route } from "@/lib/http/respond";
import { hostUpdateSchema } from "@/lib/validations/host";

export const dynamic = "force-dynamic";

type Ctx = { params: Promise<{ id: string }> };

export const GET = route(async (_req: Request, { params }: Ctx) =>
  json(await getHostJson(await idParam(params, "host"))),
);

export const PATCH = route(async (req: Request, { params }: Ctx) => {
  const id = await idParam(params, "host");
  const patch = await parseBody(req, hostUpdateSchema);
  return json(await updateHost(id, patch));
});

export const DELETE = route(async (_req: Request, { params }: Ctx) => {
  await deleteHost(await idParam(params, "host"));
  return new Response(null, { status: 204 });
});
