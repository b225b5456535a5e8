// Path parameters of the fleet's route handlers: ids are UUIDs; anything else is a 404 (there is no
// such host or VM), answered before the database sees a malformed id.
import { z } from "zod";
import { NotFoundError } from "../errors";

const uuid = z.uuid();

export async function idParam(params: Promise<{ id: string }>, what: "host" | "VM"): Promise<string> {
  const { id } = await params;
  if (!uuid.safeParse(id).success) throw new NotFoundError(`no ${what} with id ${id}`);
  return id;
}
