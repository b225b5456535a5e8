// DELETE /api/tokens/{id} — revokes the token at once: 204.
import { z } from "zod";
import { revokeApiToken } from "@/lib/auth/store";
import { HttpError, route } from "@/lib/http/respond";

export const dynamic = "force-dynamic";

export const DELETE = route(async (_req: Request, { params }: { params: Promise<{ id: string }> }) => {
  const { id } = await params;
  if (!z.uuid().safeParse(id).success) throw new HttpError(400, "token id must be a UUID");
  await revokeApiToken(id);
  return new Response(null, { status: 204 });
});
