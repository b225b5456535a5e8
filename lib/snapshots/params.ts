// Path parameter of the snapshot routes: a UUID, or 404 before the database sees a malformed id.
import { z } from "zod";
import { NotFoundError } from "../errors";

const uuid = z.uuid();

export async function snapshotIdParam(params: Promise<{ id: string }>): Promise<string> {
  const { id } = await params;
  if (!uuid.safeParse(id).success) throw new NotFoundError(`no snapshot with id ${id}`);
  return id;
}
