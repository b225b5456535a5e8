// GET /metrics — Prometheus text format: the fleet's snapshots, jobs, hosts, QMP sessions, restores and
// scheduler, read from the database at each scrape, plus this process's metrics (lib/metrics). Role
// viewer: a bearer API token (`npx snapfleet token create --role viewer --name prometheus`) or a
// session; the gate answers 401/403 as for the API (lib/auth/route-rules.ts: its rule and MACHINE_PATHS).
import { errorResponse, json } from "@/lib/http/respond";
import { MetricsUnavailableError, renderMetrics } from "@/lib/metrics/registry";

export const dynamic = "force-dynamic";

export async function GET(): Promise<Response> {
  try {
    const { contentType, body } = await renderMetrics();
    return new Response(body, { headers: { "content-type": contentType, "cache-control": "no-store" } });
  } catch (err) {
    // The scrape fails as a whole (Prometheus records up=0) rather than exporting partial values.
    if (err instanceof MetricsUnavailableError) return json({ error: err.message }, { status: 503 });
    return errorResponse(err);
  }
}
