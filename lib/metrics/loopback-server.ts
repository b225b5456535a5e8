// The optional metrics port (SNAPFLEET_METRICS_PORT): GET /metrics without a token, for a Prometheus
// (or an agent) running on the dashboard's own machine. The only protection is where it listens, so:
// Invariants:
//  - it binds 127.0.0.1 only — never the dashboard's HOST — and answers nothing but GET/HEAD /metrics;
//  - the Host header must be a loopback name (localhost, 127.0.0.1, [::1]): a web page whose DNS name
//    was rebound to 127.0.0.1 cannot read the fleet's metrics through the visitor's browser;
//  - no body is ever read.
import { createServer, type Server } from "node:http";
import { defaultAllowedHosts, hostName } from "../auth/gate";
import type { Logger } from "../logger";
import { MetricsUnavailableError, renderMetrics } from "./registry";

const LOOPBACK_NAMES = defaultAllowedHosts("127.0.0.1");

export function createMetricsServer(log: Logger): Server {
  return createServer((req, res) => {
    const answer = (status: number, error: string) =>
      res
        .writeHead(status, { "content-type": "application/json", "cache-control": "no-store", connection: "close" })
        .end(JSON.stringify({ error }));
    const host = req.headers.host;
    if (!host || !LOOPBACK_NAMES.has(hostName(host)))
      return answer(400, "the metrics port answers only to localhost, 127.0.0.1 or [::1] in the Host header");
    const path = (req.url ?? "/").split("?")[0];
    if (path !== "/metrics") return answer(404, "the metrics port serves only /metrics");
    if (req.method !== "GET" && req.method !== "HEAD") return answer(405, `${req.method} is not allowed here; use GET`);
    renderMetrics().then(
      ({ contentType, body }) =>
        res
          .writeHead(200, { "content-type": contentType, "cache-control": "no-store" })
          .end(req.method === "HEAD" ? undefined : body),
      (err: unknown) => {
        if (err instanceof MetricsUnavailableError) return answer(503, err.message);
        log.error({ err }, "rendering /metrics failed");
        answer(500, "internal error; see the server log");
      },
    );
  });
}

/** Listens on 127.0.0.1:`port`; resolves once listening. */
export async function startMetricsServer(port: number, log: Logger): Promise<Server> {
  const server = createMetricsServer(log);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  log.info({ url: `http://127.0.0.1:${port}/metrics` }, "metrics port (loopback only, no token) is up");
  return server;
}
