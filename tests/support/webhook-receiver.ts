// A webhook receiver for tests: a real node:http server on loopback that checks every request's
// Snapfleet-Signature the way docs/webhooks.md tells receivers to (HMAC-SHA256 over `${t}.${body}`,
// constant-time compare, timestamp within 5 minutes) and records what came. What it answers is set per
// path by the test: a list of statuses consumed in order (the last one repeats).
import { createHmac, timingSafeEqual } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";

export interface ReceivedHook {
  path: string;
  event: string | undefined;
  delivery: string | undefined;
  body: string;
  /** The signature checked out against the secret the test gave for this path, within tolerance. */
  signatureValid: boolean;
  signatureError: string | null;
}

/** The receiver side of the scheme, as documented: returns null when valid, else why not. */
export function checkSignature(
  secret: string,
  header: string | undefined,
  body: string,
  nowS = Math.floor(Date.now() / 1000),
  toleranceS = 300,
): string | null {
  if (!header) return "no Snapfleet-Signature header";
  const parts = Object.fromEntries(header.split(",").map((kv) => kv.split("=", 2) as [string, string]));
  const t = Number(parts.t);
  if (!Number.isInteger(t) || !parts.v1) return "malformed header";
  if (Math.abs(nowS - t) > toleranceS) return "timestamp outside tolerance";
  const expected = createHmac("sha256", secret).update(`${t}.${body}`).digest();
  const given = Buffer.from(parts.v1, "hex");
  return given.length === expected.length && timingSafeEqual(given, expected) ? null : "signature mismatch";
}

export interface WebhookReceiver {
  url(path: string): string;
  /** The secret to check requests on `path` with, and what to answer them (statuses in order). */
  expect(path: string, opts: { secret: string; statuses?: number[] }): void;
  received(path?: string): ReceivedHook[];
  close(): Promise<void>;
}

export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const routes = new Map<string, { secret: string; statuses: number[] }>();
  const got: ReceivedHook[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      const path = req.url ?? "/";
      const route = routes.get(path);
      const signatureError = route
        ? checkSignature(route.secret, req.headers["snapfleet-signature"] as string | undefined, body)
        : "no secret for this path";
      got.push({
        path,
        event: req.headers["snapfleet-event"] as string | undefined,
        delivery: req.headers["snapfleet-delivery"] as string | undefined,
        body,
        signatureValid: signatureError === null,
        signatureError,
      });
      const status = !route
        ? 404
        : signatureError
          ? 401
          : route.statuses.length > 1
            ? route.statuses.shift()!
            : (route.statuses[0] ?? 200);
      res.writeHead(status, { "content-type": "text/plain" }).end(status < 300 ? "ok" : "not ok");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: (path) => `http://127.0.0.1:${port}${path}`,
    expect: (path, opts) => routes.set(path, { secret: opts.secret, statuses: [...(opts.statuses ?? [200])] }),
    received: (path) => got.filter((r) => path === undefined || r.path === path),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
