// The one gate: a pure decision for every HTTP request and the /ws upgrade, made in server.ts before
// Next.js or the realtime hub sees anything (lib/server/gated-server.ts wires it). From the method,
// path, a few headers and the identity already resolved from the cookie or bearer token, it answers
// allow (with the route's audit action and target) or refuse (status, reason, or a redirect to /login
// for pages). Order, each step refusing before the next runs:
//   1. Host header in the allowed list (DNS rebinding)                          → 400
//   2. body cap: Content-Length above the cap → 413; a body without one → 411 (bounded memory)
//   3. the route's rule (ROUTE_RULES; unknown /api path → 404 once logged in)   → 401 / 403 / 404 / 405
//      (MACHINE_PATHS such as /metrics follow the API's rules: 401 as JSON, never a login redirect)
//   4. CSRF for cookie sessions on state-changing methods and the upgrade: the Origin (or
//      Sec-Fetch-Site) must be this site, and a body must be application/json   → 403 / 415
// Bearer-token requests skip step 4: a browser never attaches them by itself.
import {
  ADMIN_PAGE_PREFIXES,
  MACHINE_PATHS,
  matchRoute,
  PUBLIC_PAGE_PREFIXES,
  WS_ACCESS,
  WS_PATH,
  type Access,
  type HttpMethod,
} from "./route-rules";
import { roleAtLeast, type Identity } from "./roles";

export const BODY_LIMIT_BYTES = 64 * 1024;

export interface GateRequest {
  method: string;
  /** The request target as sent (path and query). */
  url: string;
  headers: {
    host?: string;
    origin?: string;
    "sec-fetch-site"?: string;
    "content-type"?: string;
    "content-length"?: string;
    "transfer-encoding"?: string;
  };
  /** Resolved by the caller from the session cookie or the bearer token; null when neither is valid. */
  identity: Identity | null;
  /** How the identity was presented (null: nothing valid presented). */
  via: "cookie" | "bearer" | null;
  upgrade?: boolean;
}

export interface GateOptions {
  /** Host names (lower case, no port) accepted in the Host header. */
  allowedHosts: ReadonlySet<string>;
  bodyLimit?: number;
}

export type GateDecision =
  | {
      allow: true;
      kind: "api" | "page" | "ws" | "asset";
      identity: Identity | null;
      /** Audit: set for state-changing API requests. */
      action?: string;
      target?: { type: string; id: string };
      stateChanging: boolean;
    }
  | {
      allow: false;
      status: number;
      reason: string;
      redirect?: string;
      stateChanging: boolean;
      action?: string;
      target?: { type: string; id: string };
    };

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/** "example.com:3000" → "example.com"; "[::1]:3000" → "[::1]". */
export function hostName(hostHeader: string): string {
  const h = hostHeader.trim().toLowerCase();
  if (h.startsWith("[")) return h.slice(0, h.indexOf("]") + 1);
  const colon = h.indexOf(":");
  return colon === -1 ? h : h.slice(0, colon);
}

export function defaultAllowedHosts(bindAddress: string, extra: string[] = []): Set<string> {
  const set = new Set(["localhost", "127.0.0.1", "[::1]"]);
  const bind = bindAddress.includes(":") && !bindAddress.startsWith("[") ? `[${bindAddress}]` : bindAddress;
  if (bind !== "0.0.0.0" && bind !== "[::]") set.add(bind.toLowerCase());
  for (const h of extra) set.add(hostName(h));
  return set;
}

function sameSite(req: GateRequest): { ok: true } | { ok: false; reason: string } {
  const origin = req.headers.origin;
  const fetchSite = req.headers["sec-fetch-site"];
  if (origin !== undefined) {
    let originHost: string;
    try {
      const u = new URL(origin);
      originHost = u.host.toLowerCase();
    } catch {
      return { ok: false, reason: `Origin ${JSON.stringify(origin.slice(0, 100))} is not this site` };
    }
    if (originHost !== (req.headers.host ?? "").toLowerCase()) {
      return { ok: false, reason: `cross-site request refused (Origin ${origin.slice(0, 100)} is not this site)` };
    }
    return { ok: true };
  }
  if (fetchSite !== undefined && fetchSite !== "same-origin" && fetchSite !== "none") {
    return { ok: false, reason: `cross-site request refused (Sec-Fetch-Site: ${fetchSite})` };
  }
  // No Origin and no Sec-Fetch-Site: not a browser (every browser this app supports sends one of them
  // on state-changing requests), so there is no ambient-credential confusion to exploit.
  return { ok: true };
}

function isJson(contentType: string | undefined): boolean {
  if (!contentType) return false;
  const mime = contentType.split(";")[0]!.trim().toLowerCase();
  return mime === "application/json";
}

function hasBody(req: GateRequest): boolean {
  if (req.headers["transfer-encoding"] !== undefined) return true;
  const len = req.headers["content-length"];
  return len !== undefined && len.trim() !== "0";
}

function allows(access: Access, identity: Identity | null): "ok" | 401 | 403 {
  if (access === "public") return "ok";
  if (!identity) return 401;
  return roleAtLeast(identity.role, access) ? "ok" : 403;
}

function pathOf(url: string): string | null {
  try {
    const { pathname } = new URL(url, "http://gate.invalid");
    // Percent-encoded slashes or dot segments would let a path dodge the table: refuse them.
    if (/%2f|%5c|%2e/i.test(pathname) || pathname.includes("\\")) return null;
    return pathname.length > 1 && pathname.endsWith("/") ? pathname.slice(0, -1) : pathname;
  } catch {
    return null;
  }
}

function isPublicPage(pathname: string): boolean {
  return PUBLIC_PAGE_PREFIXES.some(
    (p) =>
      pathname === p || (p.endsWith("/") ? pathname.startsWith(p) : pathname.startsWith(`${p}/`) || pathname === p),
  );
}

export function decide(req: GateRequest, options: GateOptions): GateDecision {
  const method = req.method.toUpperCase();
  const stateChanging = !SAFE_METHODS.has(method) || Boolean(req.upgrade);
  const refuse = (status: number, reason: string, extra: Partial<GateDecision> = {}): GateDecision =>
    ({
      allow: false,
      status,
      reason,
      stateChanging,
      ...extra,
    }) as GateDecision;

  // 1. Host header: a rebinding DNS name pointing at 127.0.0.1 still carries its own name here.
  const host = req.headers.host;
  if (!host || !options.allowedHosts.has(hostName(host))) {
    return refuse(
      400,
      `Host ${JSON.stringify((host ?? "").slice(0, 100))} is not one of this dashboard's names (SNAPFLEET_ALLOWED_HOSTS)`,
    );
  }

  const pathname = pathOf(req.url);
  if (pathname === null) return refuse(400, "malformed request path");

  // 2. Body cap, before anything is read.
  const limit = options.bodyLimit ?? BODY_LIMIT_BYTES;
  const len = req.headers["content-length"];
  if (len !== undefined) {
    const n = Number(len);
    if (!Number.isSafeInteger(n) || n < 0) return refuse(400, "invalid Content-Length");
    if (n > limit) return refuse(413, `request body too large (${n} bytes; the limit is ${limit})`);
  } else if (req.headers["transfer-encoding"] !== undefined) {
    return refuse(411, "a request body needs a Content-Length");
  }

  // 3. The rule.
  if (req.upgrade) {
    if (pathname === WS_PATH) {
      const verdict = allows(WS_ACCESS, req.identity);
      if (verdict !== "ok") return refuse(verdict, verdict === 401 ? "log in first" : "not allowed");
      if (req.via === "cookie") {
        // Browsers always send Origin on a WebSocket handshake; another site's page must not ride the cookie.
        if (req.headers.origin === undefined) return refuse(403, "WebSocket handshake without Origin refused");
        const same = sameSite(req);
        if (!same.ok) return refuse(403, same.reason);
      }
      return { allow: true, kind: "ws", identity: req.identity, stateChanging: false };
    }
    // Next's own upgrades (dev hot reload at /_next/hmr).
    if (pathname.startsWith("/_next/"))
      return { allow: true, kind: "asset", identity: req.identity, stateChanging: false };
    return refuse(404, "no such WebSocket endpoint");
  }

  let access: Access;
  let action: string | undefined;
  let target: { type: string; id: string } | undefined;
  let kind: "api" | "page" | "asset";
  if (pathname === "/api" || pathname.startsWith("/api/") || MACHINE_PATHS.includes(pathname)) {
    kind = "api";
    const match = matchRoute(pathname);
    if (!match) return req.identity ? refuse(404, "no such API route") : refuse(401, "log in first");
    const rule = match.rule.methods[(method === "HEAD" ? "GET" : method) as HttpMethod];
    if (match.rule.target) {
      const id = match.params[match.rule.target.param];
      if (id) target = { type: match.rule.target.type, id };
    }
    action = rule?.action ?? (stateChanging ? `${method} ${match.rule.pattern}` : undefined);
    if (!rule)
      return req.identity
        ? refuse(405, `${method} is not allowed here`, { action, target })
        : refuse(401, "log in first", { action, target });
    access = rule.access;
  } else if (isPublicPage(pathname)) {
    return {
      allow: true,
      kind: pathname.startsWith("/_next/") ? "asset" : "page",
      identity: req.identity,
      stateChanging: false,
    };
  } else {
    kind = "page";
    access = ADMIN_PAGE_PREFIXES.some((p) => pathname === p || pathname.startsWith(`${p}/`)) ? "admin" : "viewer";
    // Next's server actions POST to pages: none exist here, and pages take no state-changing methods.
    if (stateChanging) return refuse(405, `${method} is not allowed on pages`);
  }

  const verdict = allows(access, req.identity);
  if (verdict === 401) {
    if (kind === "page") {
      const next = req.url.length <= 512 ? req.url : "/";
      return refuse(401, "log in first", { redirect: `/login?next=${encodeURIComponent(next)}` });
    }
    return refuse(401, "log in first", { action, target });
  }
  if (verdict === 403) {
    return refuse(403, `your role (${req.identity!.role}) may not do this; it needs ${access}`, { action, target });
  }

  // 4. CSRF, for cookie sessions (and logins, which set the cookie).
  if (stateChanging && req.via !== "bearer") {
    const same = sameSite(req);
    if (!same.ok) return refuse(403, same.reason, { action, target });
    if (hasBody(req) && !isJson(req.headers["content-type"])) {
      return refuse(415, "request bodies must be application/json", { action, target });
    }
  }
  return { allow: true, kind, identity: req.identity, action, target, stateChanging };
}
