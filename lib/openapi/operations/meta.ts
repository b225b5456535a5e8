// The contract (../registry.ts) of the service's own routes: liveness and this OpenAPI document.
import { healthJsonSchema } from "../responses";
import { ok, type OperationTable } from "../operation";

export const META_OPERATIONS = {
  "GET /api/health": {
    tag: "health",
    summary: "Dashboard and database liveness",
    description: "Version and database up/down, for monitoring; answers without a login.",
    responses: {
      200: ok("The database answers.", healthJsonSchema),
      503: ok("The database does not answer; `reason` says why.", healthJsonSchema),
    },
  },
  "GET /api/openapi.json": {
    tag: "meta",
    summary: "This OpenAPI 3.1 document",
    description: "Generated from the routes' zod schemas (lib/openapi); the same document /api-docs renders.",
    responses: { 200: ok("The OpenAPI 3.1 document.", null) },
  },
} satisfies OperationTable;
