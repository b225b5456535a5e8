// GET /api/snapshots/{id}/restore — the rollback plan the confirmation shows: what is lost (guest time
// since the snapshot), what stays (newer snapshots), cold boot or RAM state, and — when Snapfleet will
// not do it (a manager owns the VM, a remote host…) — why, with the commands an operator would run.
// POST /api/snapshots/{id}/restore — rolls the VM back to the snapshot (lib/restore/rollback.ts): 202
// { restore }, followed on `restore:<id>` / `vm:<id>`. 422 with { refusal: { reason, commands } } when
// refused; 409 while a snapshot, rollback or verification of the VM runs.
import { db } from "@/lib/db/client";
import { NotFoundError } from "@/lib/errors";
import { json, route } from "@/lib/http/respond";
import { createRestoreJob } from "@/lib/restore/jobs";
import { planRollback, type SnapshotWithVm } from "@/lib/restore/plan";
import { idParam } from "@/lib/http/params";

export const dynamic = "force-dynamic";

type Ctx = { params: Promise<{ id: string }> };

export const GET = route(async (_req: Request, { params }: Ctx) => {
  const id = await idParam(params, "snapshot");
  const snap = await db().snapshot.findUnique({ where: { id }, include: { vm: { include: { host: true } } } });
  if (!snap) throw new NotFoundError(`no snapshot with id ${id}`);
  return json(await planRollback(snap as SnapshotWithVm));
});

export const POST = route(async (_req: Request, { params }: Ctx) =>
  json({ restore: await createRestoreJob("rollback", await idParam(params, "snapshot")) }, { status: 202 }),
);
