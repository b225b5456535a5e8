// The HTTP(S) server in front of Next.js and the realtime hub: every request and every upgrade passes
// the one gate (lib/auth/gate.ts) here, before anything reads a body or opens a socket. Owns: resolving
// who is asking (session cookie or `Authorization: Bearer`), answering refusals (JSON for the API, a
// redirect to /login for pages, a raw HTTP answer on upgrades), telling Next who is asking through
// headers it sets itself (any the client sent are dropped), security headers, and the audit row of
// every state-changing request, written after the handler answered with its status; a warning for an
// API request still unanswered after `slowRequestMs` (something inside it waits without bound).
// Invariants: a refused request's body is never read (413 answers from Content-Length alone and the
// connection is closed, so memory stays bounded whatever the client sends); the hub only ever gets
// upgrades the gate allowed, with the identity.
import { readFileSync } from "node:fs";
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { Duplex } from "node:stream";
import zlib from "node:zlib";
import { recordAudit, type AuditInput } from "../auth/audit";
import { decide, defaultAllowedHosts, type GateDecision } from "../auth/gate";
import { CLIENT_IP_HEADER, encodeIdentity, IDENTITY_HEADER, type Identity } from "../auth/roles";
import { apiTokenIdentity, SESSION_COOKIE, sessionIdentity } from "../auth/store";
import type { Logger } from "../logger";

import { SECURE_HEADER } from "../auth/request";
export { SECURE_HEADER };

export interface GatedServerOptions {
  host: string;
  allowedHosts: string[];
  tlsCertPath?: string;
  tlsKeyPath?: string;
  secureCookies: boolean;
  production: boolean;
  bodyLimit?: number;
  /** Next's request handler (or a stand-in in tests). */
  handle(req: IncomingMessage, res: ServerResponse): Promise<void>;
  /** `/ws`, after the gate allowed it. */
  upgradeWs(req: IncomingMessage, socket: Duplex, head: Buffer, identity: Identity): void;
  /** Next's own upgrades (dev hot reload). */
  upgradeOther?(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  log: Logger;
  /** An API request with no answer after this long is logged as a warning (default 10 s). */
  slowRequestMs?: number;
  /** Resolves presented secrets; defaults to the database (lib/auth/store.ts). */
  resolve?: { session(token: string): Promise<Identity | null>; bearer(token: string): Promise<Identity | null> };
}

const CSP = [
  "default-src 'self'",
  // Next's App Router streams its payload through inline scripts; nonces would need per-request rendering.
  "script-src 'self' 'unsafe-inline'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'self'",
  "form-action 'self'",
  "object-src 'none'",
].join("; ");

function securityHeaders(res: ServerResponse, production: boolean, tls: boolean): void {
  res.setHeader("X-Content-Type-Options", "nosniff");
  res.setHeader("X-Frame-Options", "DENY");
  res.setHeader("Referrer-Policy", "same-origin");
  res.setHeader("Cross-Origin-Opener-Policy", "same-origin");
  res.setHeader("Cross-Origin-Resource-Policy", "same-origin");
  res.setHeader("Permissions-Policy", "camera=(), microphone=(), geolocation=(), usb=(), serial=()");
  if (production) res.setHeader("Content-Security-Policy", CSP);
  if (tls) res.setHeader("Strict-Transport-Security", "max-age=31536000");
}

export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq !== -1 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

function single(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

export function clientIp(req: IncomingMessage): string {
  return (req.socket.remoteAddress ?? "unknown").replace(/^::ffff:/, "");
}

async function whoIsAsking(
  req: IncomingMessage,
  resolve: NonNullable<GatedServerOptions["resolve"]>,
): Promise<{ identity: Identity | null; via: "cookie" | "bearer" | null }> {
  const auth = single(req.headers.authorization);
  if (auth !== undefined) {
    const m = /^Bearer\s+(\S+)$/i.exec(auth.trim());
    const identity = m ? await resolve.bearer(m[1]!) : null;
    return { identity, via: identity ? "bearer" : null };
  }
  const token = readCookie(single(req.headers.cookie), SESSION_COOKIE);
  if (token) {
    const identity = await resolve.session(token);
    return { identity, via: identity ? "cookie" : null };
  }
  return { identity: null, via: null };
}

function gateInput(req: IncomingMessage, identity: Identity | null, via: "cookie" | "bearer" | null, upgrade: boolean) {
  const h = req.headers;
  return {
    method: req.method ?? "GET",
    url: req.url ?? "/",
    headers: {
      host: single(h.host),
      origin: single(h.origin),
      "sec-fetch-site": single(h["sec-fetch-site"]),
      "content-type": single(h["content-type"]),
      "content-length": single(h["content-length"]),
      "transfer-encoding": single(h["transfer-encoding"]),
    },
    identity,
    via,
    upgrade,
  };
}

/**
 * The `error` of a failed answer, for its audit row: the body's first bytes as written — decompressed
 * when Next compressed them (browsers ask for gzip or br, and the body then holds binary, which is not
 * text for PostgreSQL) — then its JSON `error`, or its first 300 characters, or `HTTP <status>`.
 */
function captureErrorText(res: ServerResponse): () => string | null {
  const chunks: Buffer[] = [];
  let bytes = 0;
  const write = res.write.bind(res) as (...a: unknown[]) => boolean;
  const end = res.end.bind(res) as (...a: unknown[]) => ServerResponse;
  const keep = (chunk: unknown) => {
    if (res.statusCode < 400 || bytes >= ERROR_CAPTURE_BYTES) return;
    if (typeof chunk === "string" || chunk instanceof Uint8Array) {
      const b = Buffer.from(chunk as Uint8Array);
      chunks.push(b);
      bytes += b.length;
    }
  };
  res.write = ((...a: unknown[]) => {
    keep(a[0]);
    return write(...a);
  }) as typeof res.write;
  res.end = ((...a: unknown[]) => {
    if (typeof a[0] !== "function") keep(a[0]);
    return end(...a);
  }) as typeof res.end;
  return () => {
    if (res.statusCode < 400) return null;
    const body = decodeBody(Buffer.concat(chunks), String(res.getHeader("content-encoding") ?? ""));
    try {
      const parsed = JSON.parse(body) as { error?: unknown };
      if (typeof parsed.error === "string") return parsed.error;
    } catch {
      // not JSON (or cut short)
    }
    return body.slice(0, 300) || `HTTP ${res.statusCode}`;
  };
}

/** An error body is small: the first 16 KiB written are enough for its message. */
const ERROR_CAPTURE_BYTES = 16 * 1024;

/** The body's text: gzip, deflate and br undone (a body cut short decodes as far as it goes), else as UTF-8. */
function decodeBody(raw: Buffer, encoding: string): string {
  const opts = { maxOutputLength: 64 * 1024, finishFlush: zlib.constants.Z_SYNC_FLUSH };
  try {
    if (encoding === "gzip") return zlib.gunzipSync(raw, opts).toString("utf8");
    if (encoding === "deflate") return zlib.inflateSync(raw, opts).toString("utf8");
    if (encoding === "br")
      return zlib
        .brotliDecompressSync(raw, {
          maxOutputLength: opts.maxOutputLength,
          finishFlush: zlib.constants.BROTLI_OPERATION_FLUSH,
        })
        .toString("utf8");
  } catch {
    return `(a ${encoding} body that does not decode)`;
  }
  return raw.toString("utf8");
}

function refuseHttp(req: IncomingMessage, res: ServerResponse, d: Extract<GateDecision, { allow: false }>): void {
  // The body (if any) is never read: close the connection once answered.
  const unread = req.headers["content-length"] !== undefined && req.headers["content-length"] !== "0";
  if (unread || req.headers["transfer-encoding"]) {
    res.setHeader("Connection", "close");
    res.on("finish", () => req.socket.destroySoon?.() ?? req.socket.end());
  }
  if (d.redirect) {
    res.writeHead(303, { Location: d.redirect, "Cache-Control": "no-store" }).end();
    return;
  }
  const isApi = (req.url ?? "").startsWith("/api");
  if (isApi || d.status !== 403) {
    res
      .writeHead(d.status, { "Content-Type": "application/json", "Cache-Control": "no-store" })
      .end(JSON.stringify({ error: d.reason }));
  } else {
    res
      .writeHead(403, { "Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store" })
      .end(
        `<!doctype html><title>Not allowed · Snapfleet</title><p>${d.reason.replace(/[<>&]/g, "")}</p><p><a href="/">Back</a></p>`,
      );
  }
}

function refuseUpgrade(socket: Duplex, status: number, reason: string): void {
  const text =
    {
      400: "Bad Request",
      401: "Unauthorized",
      403: "Forbidden",
      404: "Not Found",
      411: "Length Required",
      413: "Payload Too Large",
      503: "Service Unavailable",
    }[status] ?? "Refused";
  const body = JSON.stringify({ error: reason });
  socket.end(
    `HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

const SLOW_REQUEST_MS = 10_000;

/** Logs a warning once when the handler has not answered (no headers sent) within `afterMs`. */
function warnIfUnanswered(req: IncomingMessage, res: ServerResponse, path: string, afterMs: number, log: Logger): void {
  const timer = setTimeout(() => {
    if (!res.headersSent)
      log.warn({ method: req.method, path, afterMs }, `an API request is still unanswered after ${afterMs} ms`);
  }, afterMs);
  timer.unref();
  res.once("close", () => clearTimeout(timer));
}

export function createGatedServer(options: GatedServerOptions): Server {
  const { log } = options;
  const tls = Boolean(options.tlsCertPath && options.tlsKeyPath);
  const allowedHosts = defaultAllowedHosts(options.host, options.allowedHosts);
  const resolve = options.resolve ?? {
    session: (t: string) => sessionIdentity(t),
    bearer: (t: string) => apiTokenIdentity(t),
  };
  const gateOptions = { allowedHosts, bodyLimit: options.bodyLimit };

  const onRequest = async (req: IncomingMessage, res: ServerResponse) => {
    securityHeaders(res, options.production, tls);
    let who: Awaited<ReturnType<typeof whoIsAsking>>;
    try {
      who = await whoIsAsking(req, resolve);
    } catch (err) {
      log.error({ err }, "resolving the session failed");
      res
        .writeHead(503, { "Content-Type": "application/json" })
        .end(JSON.stringify({ error: "the database does not answer; retry shortly" }));
      return;
    }
    const decision = decide(gateInput(req, who.identity, who.via, false), gateOptions);
    const ip = clientIp(req);
    const path = (req.url ?? "/").split("?")[0]!;
    const audited =
      decision.stateChanging &&
      path.startsWith("/api/") &&
      !decision.action?.startsWith("auth.login") &&
      !decision.action?.startsWith("auth.setup");
    const audit = (identity: AuditInput["identity"], status: number, error: AuditInput["error"]) =>
      void recordAudit(
        {
          identity,
          action: decision.action ?? `${req.method} ${path}`,
          method: req.method ?? "?",
          path,
          target: decision.target,
          ip,
          status,
          error,
        },
        log,
      );
    if (!decision.allow) {
      if (audited) audit(who.identity, decision.status, decision.reason);
      refuseHttp(req, res, decision);
      return;
    }
    delete req.headers[IDENTITY_HEADER];
    delete req.headers[CLIENT_IP_HEADER];
    delete req.headers[SECURE_HEADER];
    if (decision.identity) req.headers[IDENTITY_HEADER] = encodeIdentity(decision.identity);
    req.headers[CLIENT_IP_HEADER] = ip;
    if (tls || options.secureCookies) req.headers[SECURE_HEADER] = "1";
    if (decision.kind === "api" || decision.kind === "page") res.setHeader("Cache-Control", "no-store");
    if (decision.kind === "api") warnIfUnanswered(req, res, path, options.slowRequestMs ?? SLOW_REQUEST_MS, log);
    if (audited) {
      const errorText = captureErrorText(res);
      res.once("finish", () => audit(decision.identity, res.statusCode, errorText()));
    }
    try {
      await options.handle(req, res);
    } catch (err) {
      log.error({ err, url: path }, "request failed");
      if (!res.headersSent) res.writeHead(500).end("internal error");
    }
  };

  const server: Server = tls
    ? (createHttpsServer(
        { cert: readFileSync(options.tlsCertPath!), key: readFileSync(options.tlsKeyPath!) },
        (req, res) => void onRequest(req, res),
      ) as unknown as Server)
    : createHttpServer((req, res) => void onRequest(req, res));
  // Slow-loris bounds: headers within 20 s, a whole request within 60 s.
  server.headersTimeout = 20_000;
  server.requestTimeout = 60_000;

  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on("error", () => socket.destroy());
    void (async () => {
      let who: Awaited<ReturnType<typeof whoIsAsking>>;
      try {
        who = await whoIsAsking(req, resolve);
      } catch (err) {
        log.error({ err }, "resolving the session of a WebSocket failed");
        return refuseUpgrade(socket, 503, "the database does not answer");
      }
      const decision = decide(gateInput(req, who.identity, who.via, true), gateOptions);
      if (!decision.allow) {
        log.info({ status: decision.status, reason: decision.reason, ip: clientIp(req) }, "WebSocket upgrade refused");
        return refuseUpgrade(socket, decision.status, decision.reason);
      }
      if (decision.kind === "ws") options.upgradeWs(req, socket, head, decision.identity!);
      else if (options.upgradeOther) options.upgradeOther(req, socket, head);
      else refuseUpgrade(socket, 404, "no such WebSocket endpoint");
    })();
  });
  return server;
}
