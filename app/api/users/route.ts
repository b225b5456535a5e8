// GET /api/users — every user (never a password hash). POST /api/users { name, role, password } — 201 { user }.
import { createUser, listUsers } from "@/lib/auth/store";
import { json, parseBody, route } from "@/lib/http/respond";
import { userCreateSchema } from "@/lib/validations/auth";

export const dynamic = "force-dynamic";

export const GET = route(async () => json({ users: await listUsers() }));

export const POST = route(async (req: Request) => {
  const input = await parseBody(req, userCreateSchema);
  return json({ user: await createUser(input.name, input.role, input.password) }, { status: 201 });
});
