// DELETE /api/tokens/{id} — revokes the token at once: 204.
import { revokeApiToken } from "@/lib/auth/store";
import { uuidParam } from "@/lib/http/params";
import { route } from "@/lib/http/respond";

export const dynamic = "force-dynamic";

export const DELETE = route(async (_req: Request, { params }: { params: Promise<{ id: string }> }) => {
  const id = await uuidParam(params, "token");
  await revokeApiToken(id);
  return new Response(null, { status: 204 });
});
