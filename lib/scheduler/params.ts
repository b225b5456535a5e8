// The {id} path parameter of /api/schedules/{id}/…: a UUID, else 404 before the database sees it.
import { z } from "zod";
import { NotFoundError } from "../errors";

const uuid = z.uuid();

export async function scheduleIdParam(params: Promise<{ id: string }>): Promise<string> {
  const { id } = await params;
  if (!uuid.safeParse(id).success) throw new NotFoundError(`no schedule with id ${id}`);
  return id;
}
