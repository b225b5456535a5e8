// The contract (../registry.ts) of the admin's accounts: users, API tokens and the audit log.
import { auditQuerySchema, tokenCreateSchema, userCreateSchema, userUpdateSchema } from "../../validations/auth";
import {
  apiTokenCreatedJsonSchema,
  apiTokenListJsonSchema,
  auditListJsonSchema,
  userListJsonSchema,
  userResultJsonSchema,
} from "../responses";
import { noContent, ok, type OperationTable } from "../operation";

export const ACCOUNT_OPERATIONS = {
  "GET /api/users": {
    tag: "users",
    summary: "List users",
    responses: { 200: ok("Every user (never a password hash).", userListJsonSchema) },
  },
  "POST /api/users": {
    tag: "users",
    summary: "Create a user",
    body: userCreateSchema,
    responses: {
      201: ok("The new user.", userResultJsonSchema),
      409: ok("The name is taken.", null),
      422: ok("The name or password is not acceptable; the message says why.", null),
    },
  },
  "PATCH /api/users/[id]": {
    tag: "users",
    summary: "Change a user's role, password or disabled flag",
    description: "Ends the user's sessions. The last admin cannot be demoted or disabled (409).",
    body: userUpdateSchema,
    responses: { 200: ok("The user as changed.", userResultJsonSchema), 409: ok("That would leave no admin.", null) },
  },
  "DELETE /api/users/[id]": {
    tag: "users",
    summary: "Delete a user",
    responses: { 204: noContent, 409: ok("The last admin cannot be deleted.", null) },
  },
  "GET /api/tokens": {
    tag: "users",
    summary: "List API tokens",
    responses: { 200: ok("Name, role, expiry, last use; never the secret.", apiTokenListJsonSchema) },
  },
  "POST /api/tokens": {
    tag: "users",
    summary: "Create an API token",
    description: "The secret is in this answer only; send it as `Authorization: Bearer <token>`.",
    body: tokenCreateSchema,
    responses: { 201: ok("The token and its record.", apiTokenCreatedJsonSchema) },
  },
  "DELETE /api/tokens/[id]": {
    tag: "users",
    summary: "Revoke an API token",
    responses: { 204: noContent },
  },
  "GET /api/audit": {
    tag: "audit",
    summary: "The audit log",
    description: "Newest first, keyset-paginated: pass `nextCursor` back as `cursor`.",
    query: auditQuerySchema,
    responses: { 200: ok("One page of events.", auditListJsonSchema) },
  },
} satisfies OperationTable;
