// GET /api/tokens — API tokens (name, role, expiry, last use; never the secret).
// POST /api/tokens { name, role, expiresIn? } — 201 { token, info }: the secret is in this answer only.
import { identityOf } from "@/lib/auth/request";
import { createApiToken, listApiTokens } from "@/lib/auth/store";
import { json, parseBody, route } from "@/lib/http/respond";
import { durationMs, tokenCreateSchema } from "@/lib/validations/auth";

export const dynamic = "force-dynamic";

export const GET = route(async () => json({ tokens: await listApiTokens() }));

export const POST = route(async (req: Request) => {
  const input = await parseBody(req, tokenCreateSchema);
  const expiresAt = input.expiresIn ? new Date(Date.now() + durationMs(input.expiresIn)) : null;
  const created = await createApiToken({
    name: input.name,
    role: input.role,
    expiresAt,
    createdBy: identityOf(req.headers)?.name ?? null,
  });
  // Not json(): that masks token-shaped strings, and this answer is the one place the secret is shown.
  return new Response(JSON.stringify(created), {
    status: 201,
    headers: { "content-type": "application/json", "cache-control": "no-store" },
  });
});
