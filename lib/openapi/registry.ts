// The API's contract: one entry per app/api route file and HTTP method it exports, from which
// buildOpenApiDocument() (./document.ts) makes the OpenAPI 3.1 document served at GET /api/openapi.json
// and rendered at /api-docs. The entries live in ./operations/<part>.ts, one file per part of the API
// (in the order the document lists them); this file puts them together and says what path parameters
// name. The role each operation needs is NOT here: it is read from lib/auth/route-rules.ts, the table the
// gate enforces.
//
// HOW TO REGISTER A ROUTE (tests/openapi/openapi.test.ts fails until you do):
//   1. Put the route's zod input schemas in lib/validations/*.ts and export them; the handler passes that
//      exported object itself to parseBody(req, …) / parseQuery(req, …), inside the exported method
//      (e.g. `export const POST = route(async (req) => { const input = await parseBody(req, fooCreateSchema); … })`).
//   2. Add an entry to the table of its part in ./operations/ keyed "<METHOD> <pattern>", the pattern
//      spelled as in the app router and in route-rules.ts ("POST /api/hosts/[id]/discover"), with
//      (./operation.ts):
//        tag, summary (one line), description? (what it does, in the route file's words),
//        query / body: the SAME schema objects the handler parses (the test resolves the handler's
//          argument to its export and compares identity — a copy, a local schema or `.extend()` inline
//          fails; a parse call without an entry, or an entry the handler does not parse, fails too),
//        responses: the success status(es) with a zod schema of the body (next to the serializer, e.g.
//          lib/snapshots/snapshot-json.ts, else lib/openapi/responses.ts) or `schema: null` for no body,
//          plus the domain errors the route answers (409, 422, 503…). 400 (with query/body), 401/403
//          (from the role), 404 (with path params) and the error body are added by the generator.
//      A path parameter is described by the collection in front of it (ID_PARAMS below): add a new one.
//   3. Its rule in lib/auth/route-rules.ts (the role) — the generator fails loudly without one.
// Removing a route: remove its entry (the test fails for an entry whose route file or method is gone).
import type { HttpMethod } from "../auth/route-rules";
import type { ApiOperation, OperationTable } from "./operation";
import { ACCOUNT_OPERATIONS } from "./operations/accounts";
import { AUTH_OPERATIONS } from "./operations/auth";
import { HOST_OPERATIONS } from "./operations/hosts";
import { META_OPERATIONS } from "./operations/meta";
import { SCHEDULE_OPERATIONS } from "./operations/schedules";
import { SNAPSHOT_OPERATIONS } from "./operations/snapshots";
import { VM_OPERATIONS } from "./operations/vms";
import { WEBHOOK_OPERATIONS } from "./operations/webhooks";

export const API_OPERATIONS = {
  ...META_OPERATIONS,
  ...AUTH_OPERATIONS,
  ...ACCOUNT_OPERATIONS,
  ...HOST_OPERATIONS,
  ...VM_OPERATIONS,
  ...SNAPSHOT_OPERATIONS,
  ...SCHEDULE_OPERATIONS,
  ...WEBHOOK_OPERATIONS,
} satisfies OperationTable;

/**
 * What a path's `[id]` names, by the collection in front of it ("/api/vms/[id]/snapshots": vms). The
 * routes of users, tokens and webhooks check the id's form first and answer 400 for a malformed one.
 */
const ID_PARAMS: Record<string, string> = {
  users: "the user's UUID (400 when malformed)",
  tokens: "the token's UUID (400 when malformed)",
  webhooks: "the webhook's UUID (400 when malformed)",
  hosts: "the host's UUID",
  vms: "the VM's UUID",
  snapshots: "the snapshot's UUID",
  batches: "the batch's UUID",
  restores: "the restore's UUID",
  schedules: "the schedule's UUID",
};

/** The description of path parameter `name` of `pattern` ("/api/hosts/[id]", "id" → "the host's UUID"). */
export function pathParamDescription(pattern: string, name: string): string {
  const segments = pattern.split("/");
  const collection = segments[segments.indexOf(`[${name}]`) - 1] ?? "";
  return ID_PARAMS[collection] ?? "the object's UUID";
}

/** Splits "POST /api/hosts/[id]" into its method and app-router pattern. */
function parseOperationKey(key: string): { method: HttpMethod; pattern: string } {
  const space = key.indexOf(" ");
  return { method: key.slice(0, space) as HttpMethod, pattern: key.slice(space + 1) };
}

export function operations(): Array<{ key: string; method: HttpMethod; pattern: string; op: ApiOperation }> {
  return Object.entries(API_OPERATIONS as Record<string, ApiOperation>).map(([key, op]) => ({
    key,
    ...parseOperationKey(key),
    op,
  }));
}
