// The {id} path parameter of every app/api/**/[id] route and [id] page: ids are UUIDs, and anything else
// is a 404 (there is no such object), answered before the database sees a malformed id. The account
// routes (users, tokens, webhooks) answer a malformed id 400 instead (uuidParam): their API says so.
import { z } from "zod";
import { NotFoundError } from "../errors";
import { HttpError } from "./respond";

const uuid = z.uuid();

/** The id, or NotFoundError "no <what> with id <id>" (what: "host", "VM", "snapshot", "schedule", …). */
export async function idParam(params: Promise<{ id: string }>, what: string): Promise<string> {
  const { id } = await params;
  if (!uuid.safeParse(id).success) throw new NotFoundError(`no ${what} with id ${id}`);
  return id;
}

/** The id, or HttpError 400 "<what> id must be a UUID" (what: "user", "token", "webhook"). */
export async function uuidParam(params: Promise<{ id: string }>, what: string): Promise<string> {
  const { id } = await params;
  if (!uuid.safeParse(id).success) throw new HttpError(400, `${what} id must be a UUID`);
  return id;
}
