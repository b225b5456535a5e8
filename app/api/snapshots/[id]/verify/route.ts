// GET /api/snapshots/{id}/verify — the snapshot's latest verification ({ restore } or { restore: null }).
// POST /api/snapshots/{id}/verify — restores the snapshot into a sandbox QEMU on its host to prove it
// loads (lib/restore/verify.ts): 202 { restore }; the snapshot row then gets verifiedAt or verifyError.
// 422 when it cannot be verified (ram-only, remote host…), 409 while a restore of its VM runs.
import { json, route } from "@/lib/http/respond";
import { createRestoreJob, latestVerification } from "@/lib/restore/jobs";
import { idParam } from "@/lib/http/params";

export const dynamic = "force-dynamic";

type Ctx = { params: Promise<{ id: string }> };

export const GET = route(async (_req: Request, { params }: Ctx) =>
  json({ restore: await latestVerification(await idParam(params, "snapshot")) }),
);

export const POST = route(async (_req: Request, { params }: Ctx) =>
  json({ restore: await createRestoreJob("verify", await idParam(params, "snapshot")) }, { status: 202 }),
);
