// /api-docs — the API reference for any logged-in role (pages default to viewer in route-rules.ts):
// the same OpenAPI 3.1 document GET /api/openapi.json serves, rendered on the server.
import type { Metadata } from "next";
import { ApiReference } from "@/components/api-docs/api-reference";
import { PageHeader } from "@/components/ui/page-header";
import { buildOpenApiDocument } from "@/lib/openapi/document";

export const metadata: Metadata = { title: "API" };
export const dynamic = "force-dynamic";

export default function ApiDocsPage() {
  const doc = buildOpenApiDocument();
  return (
    <>
      <PageHeader
        title="API"
        description={`${doc.info.title} ${doc.info.version}: send an API token as Authorization: Bearer <token>. Machine-readable: /api/openapi.json (OpenAPI 3.1).`}
        actions={
          <a
            href="/api/openapi.json"
            className="rounded-md border border-slate-300 px-3 py-1.5 text-sm hover:bg-slate-100 dark:border-slate-700 dark:hover:bg-slate-800"
          >
            openapi.json
          </a>
        }
      />
      <ApiReference doc={doc} />
    </>
  );
}
