// GET /api/snapshots/{id}/verify/screenshot — the console picture (PNG) of the snapshot's latest
// successful verification; 404 when there is none (not verified, or the VM has no display device).
import { NotFoundError } from "@/lib/errors";
import { route } from "@/lib/http/respond";
import { verificationScreenshot } from "@/lib/restore/jobs";
import { idParam } from "@/lib/http/params";

export const dynamic = "force-dynamic";

export const GET = route(async (_req: Request, { params }: { params: Promise<{ id: string }> }) => {
  const png = await verificationScreenshot(await idParam(params, "snapshot"));
  if (!png) throw new NotFoundError("this snapshot has no verified console picture");
  return new Response(new Uint8Array(png), {
    headers: {
      "content-type": "image/png",
      "cache-control": "private, max-age=60",
      "x-content-type-options": "nosniff",
    },
  });
});
