// PATCH /api/users/{id} { role?, password?, disabled? } — ends the user's sessions; the last admin
// cannot be demoted or disabled (409). DELETE /api/users/{id} — 204 (not the last admin).
import { deleteUser, updateUser } from "@/lib/auth/store";
import { uuidParam } from "@/lib/http/params";
import { json, parseBody, route } from "@/lib/http/respond";
import { userUpdateSchema } from "@/lib/validations/auth";

export const dynamic = "force-dynamic";

type Ctx = { params: Promise<{ id: string }> };

export const PATCH = route(async (req: Request, { params }: Ctx) => {
  const id = await uuidParam(params, "user");
  return json({ user: await updateUser(id, await parseBody(req, userUpdateSchema)) });
});

export const DELETE = route(async (_req: Request, { params }: Ctx) => {
  await deleteUser(await uuidParam(params, "user"));
  return new Response(null, { status: 204 });
});
