// PATCH /api/users/{id} { role?, password?, disabled? } — ends the user's sessions; the last admin
// cannot be demoted or disabled (409). DELETE /api/users/{id} — 204 (not the last admin).
import { z } from "zod";
import { deleteUser, updateUser } from "@/lib/auth/store";
import { HttpError, json, parseBody, route } from "@/lib/http/respond";
import { userUpdateSchema } from "@/lib/validations/auth";

export const dynamic = "force-dynamic";

type Ctx = { params: Promise<{ id: string }> };

async function userId(params: Ctx["params"]): Promise<string> {
  const { id } = await params;
  if (!z.uuid().safeParse(id).success) throw new HttpError(400, "user id must be a UUID");
  return id;
}

export const PATCH = route(async (req: Request, { params }: Ctx) => {
  const id = await userId(params);
  return json({ user: await updateUser(id, await parseBody(req, userUpdateSchema)) });
});

export const DELETE = route(async (_req: Request, { params }: Ctx) => {
  await deleteUser(await userId(params));
  return new Response(null, { status: 204 });
});
