// GET /api/openapi.json — the OpenAPI 3.1 document of this API, generated from the routes' zod schemas
// (lib/openapi/registry.ts, buildOpenApiDocument). Any logged-in role (route-rules.ts).
import { json, route } from "@/lib/http/respond";
import { buildOpenApiDocument } from "@/lib/openapi/document";

export const dynamic = "force-dynamic";

export const GET = route(async () => json(buildOpenApiDocument()));
