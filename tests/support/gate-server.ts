// The real gate (lib/server/gated-server.ts) in front of a stand-in for Next.js, as the gate tests run it:
// started on a free loopback port as a production server; a client request sent as a browser or a scraper
// sends it (Host `localhost:<port>` unless given), its whole answer read; and a route handler's fetch
// Response written back to the node response.
import { request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { createGatedServer } from "../../lib/server/gated-server";

type GateOptions = Parameters<typeof createGatedServer>[0];

/** The gate (production, plain HTTP, no extra allowed Host names) listening on 127.0.0.1 at a free port. */
export async function startTestGate(
  opts: Pick<GateOptions, "handle" | "upgradeWs" | "log" | "slowRequestMs">,
): Promise<{ server: Server; port: number }> {
  const server = createGatedServer({
    host: "127.0.0.1",
    allowedHosts: [],
    secureCookies: false,
    production: true,
    ...opts,
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { server, port: (server.address() as AddressInfo).port };
}

export interface Answer {
  status: number;
  headers: IncomingMessage["headers"];
  body: string;
}

/** One request to 127.0.0.1:`port`; resolves with the whole answer, rejects on a connection error. */
export function rawRequest(
  port: number,
  method: string,
  path: string,
  opts: { headers?: Record<string, string>; body?: string | Buffer } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { host: `localhost:${port}`, ...opts.headers };
    if (opts.body !== undefined) headers["content-length"] ??= String(Buffer.byteLength(opts.body));
    const r = httpRequest({ host: "127.0.0.1", port, method, path, headers }, (res) => {
      let body = "";
      res.on("data", (c) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    r.on("error", reject);
    if (opts.body !== undefined) r.end(opts.body);
    else r.end();
  });
}

/** Writes a route handler's Response (status, headers, body) to the node response. */
export async function writeResponse(res: ServerResponse, r: Response): Promise<void> {
  res.writeHead(r.status, Object.fromEntries(r.headers));
  res.end(Buffer.from(await r.arrayBuffer()));
}
