// The {id} path parameter of every app/api/**/[id] route and [id] page: ids are UUIDs, and anything else
// is a 404 (there is no such object), answered before the database sees a malformed id.
import { z } from "zod";
import { NotFoundError } from "../errors";

const uuid = z.uuid();

/** The id, or NotFoundError "no <what> with id <id>" (what: "host", "VM", "snapshot", "schedule", …). */
export async function idParam(params: Promise<{ id: string }>, what: string): Promise<string> {
  const { id } = await params;
  if (!uuid.safeParse(id).success) throw new NotFoundError(`no ${what} with id ${id}`);
  return id;
}
