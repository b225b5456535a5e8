// The contract (../registry.ts) of /api/auth: log in and out, who is asking, first-run set-up.
import { loginSchema, setupQuerySchema, setupSchema } from "../../validations/auth";
import { loggedInJsonSchema, meJsonSchema, setupValidJsonSchema } from "../responses";
import { noContent, ok, type OperationTable } from "../operation";

export const AUTH_OPERATIONS = {
  "POST /api/auth/login": {
    tag: "auth",
    summary: "Log in",
    description:
      "Sets the session cookie (httpOnly, SameSite=Strict, Secure over HTTPS). Which of name or password was wrong is not said.",
    body: loginSchema,
    responses: {
      200: ok("Logged in; the session cookie is set.", loggedInJsonSchema),
      429: ok("Too many failures from this address or for this name; Retry-After says when to try again.", null),
    },
  },
  "POST /api/auth/logout": {
    tag: "auth",
    summary: "Log out",
    description: "Ends this browser's session and clears the cookie.",
    responses: { 204: noContent },
  },
  "GET /api/auth/me": {
    tag: "auth",
    summary: "Who is asking",
    responses: { 200: ok("The user or API token behind this request.", meJsonSchema) },
  },
  "GET /api/auth/setup": {
    tag: "auth",
    summary: "Whether a first-run set-up link is valid",
    query: setupQuerySchema,
    responses: { 200: ok("Whether the token can still create the first admin.", setupValidJsonSchema) },
  },
  "POST /api/auth/setup": {
    tag: "auth",
    summary: "Create the first admin",
    description: "With the one-time token a start without an admin prints; logs the new admin in.",
    body: setupSchema,
    responses: {
      200: ok(
        "The admin exists and is logged in (session cookie set); 401 when the link is not valid, used or expired, or an admin exists.",
        loggedInJsonSchema,
      ),
    },
  },
} satisfies OperationTable;
