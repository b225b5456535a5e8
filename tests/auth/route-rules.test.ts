// The one gate, table-driven over every route file: each app/api/**/route.ts and each HTTP method it
// exports must have a rule in lib/auth/route-rules.ts (a new route without one fails here), and for
// each: anonymous → 401, every role below the rule → 403, the rule's role and above → allowed. Then
// the cross-cutting refusals: CSRF (text/plain body, foreign Origin, cross-site Sec-Fetch-Site),
// foreign Host, body cap, and the /ws upgrade (anonymous, foreign Origin, missing Origin).
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, test } from "vitest";
import { decide, defaultAllowedHosts, type GateRequest } from "../../lib/auth/gate";
import { ROLES, roleAtLeast, type Identity, type Role } from "../../lib/auth/roles";
import { matchRoute, type HttpMethod } from "../../lib/auth/route-rules";
import { APP, patternOf, routeFiles } from "../support/app-routes";

const METHODS: HttpMethod[] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/** Exported HTTP methods, read from the source (export const GET = …, export async function POST, export { GET }). */
function exportedMethods(file: string): HttpMethod[] {
  const src = readFileSync(file, "utf8");
  const found = new Set<HttpMethod>();
  for (const m of METHODS) {
    if (new RegExp(`export\\s+(const|let|var|async\\s+function|function)\\s+${m}\\b`).test(src)) found.add(m);
    if (new RegExp(`export\\s*\\{[^}]*\\b${m}\\b[^}]*\\}`).test(src)) found.add(m);
  }
  return [...found];
}

const ID = "3f2b1c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d";
const concrete = (pattern: string) => pattern.replace(/\[\.\.\.[^\]]+\]/g, "a/b").replace(/\[[^\]]+\]/g, ID);
const allowedHosts = defaultAllowedHosts("127.0.0.1");
const options = { allowedHosts };
const who = (role: Role): Identity => ({ kind: "user", id: `u-${role}`, name: role, role });

function req(
  method: string,
  url: string,
  over: Partial<GateRequest> = {},
  headers: GateRequest["headers"] = {},
): GateRequest {
  const body = !["GET", "HEAD", "OPTIONS"].includes(method);
  return {
    method,
    url,
    headers: {
      host: "localhost:3000",
      ...(body
        ? {
            origin: "http://localhost:3000",
            "sec-fetch-site": "same-origin",
            "content-type": "application/json",
            "content-length": "2",
          }
        : {}),
      ...headers,
    },
    identity: null,
    via: null,
    ...over,
  };
}

const table = routeFiles().flatMap((file) =>
  exportedMethods(file).map((method) => ({ file: path.relative(APP, file), pattern: patternOf(file), method })),
);

describe("every route has a rule", () => {
  test("the route files were found", () => {
    expect(table.length).toBeGreaterThan(20);
  });

  test.each(table)("$method $pattern ($file)", ({ pattern, method }) => {
    const match = matchRoute(concrete(pattern));
    expect(match?.rule.pattern, `no rule in lib/auth/route-rules.ts matches ${pattern}`).toBe(pattern);
    expect(match!.rule.methods[method], `lib/auth/route-rules.ts has no ${method} rule for ${pattern}`).toBeDefined();
  });
});

describe("anonymous → 401, under-privileged → 403, right role → allowed", () => {
  test.each(table)("$method $pattern", ({ pattern, method }) => {
    const rule = matchRoute(concrete(pattern))!.rule.methods[method]!;
    const url = concrete(pattern);
    const anonymous = decide(req(method, url), options);
    if (rule.access === "public") {
      expect(anonymous.allow).toBe(true);
      return;
    }
    expect(anonymous).toMatchObject({ allow: false, status: 401 });
    for (const role of ROLES) {
      for (const via of ["cookie", "bearer"] as const) {
        const d = decide(req(method, url, { identity: who(role), via }), options);
        if (roleAtLeast(role, rule.access)) expect(d, `${role} via ${via}`).toMatchObject({ allow: true, kind: "api" });
        else expect(d, `${role} via ${via}`).toMatchObject({ allow: false, status: 403 });
      }
    }
  });

  test("state-changing routes carry an audit action and their target", () => {
    const d = decide(req("POST", `/api/vms/${ID}/snapshots`, { identity: who("operator"), via: "cookie" }), options);
    expect(d).toMatchObject({
      allow: true,
      action: "snapshot.create",
      target: { type: "vm", id: ID },
      stateChanging: true,
    });
  });

  test("static segments win over [id]", () => {
    expect(matchRoute("/api/schedules/preview")?.rule.pattern).toBe("/api/schedules/preview");
    expect(matchRoute(`/api/schedules/${ID}`)?.rule.pattern).toBe("/api/schedules/[id]");
  });

  test("unknown API paths: 401 anonymous, 404 logged in; unknown method 405", () => {
    expect(decide(req("GET", "/api/nope"), options)).toMatchObject({ status: 401 });
    expect(decide(req("GET", "/api/nope", { identity: who("admin"), via: "cookie" }), options)).toMatchObject({
      status: 404,
    });
    expect(decide(req("PUT", "/api/vms", { identity: who("admin"), via: "bearer" }), options)).toMatchObject({
      status: 405,
    });
  });

  test("encoded slashes and dots cannot dodge the table", () => {
    expect(
      decide(req("GET", "/api/hosts%2F..%2Fusers", { identity: who("admin"), via: "cookie" }), options),
    ).toMatchObject({ allow: false, status: 400 });
  });
});

describe("pages", () => {
  test("pages need a login (redirect to /login), /login, /setup and static assets do not", () => {
    for (const p of ["/", "/fleet", `/vms/${ID}`, "/snapshots", "/schedules", "/schedules/new", "/settings"]) {
      expect(decide(req("GET", p), options)).toMatchObject({
        allow: false,
        status: 401,
        redirect: `/login?next=${encodeURIComponent(p)}`,
      });
      expect(decide(req("GET", p, { identity: who("viewer"), via: "cookie" }), options)).toMatchObject({
        allow: true,
        kind: "page",
      });
    }
    for (const p of ["/login", "/setup", "/_next/static/chunks/app.js", "/favicon.ico"])
      expect(decide(req("GET", p), options).allow).toBe(true);
  });

  test("the audit page is for admins", () => {
    expect(decide(req("GET", "/settings/audit", { identity: who("operator"), via: "cookie" }), options)).toMatchObject({
      allow: false,
      status: 403,
    });
    expect(decide(req("GET", "/settings/audit", { identity: who("admin"), via: "cookie" }), options).allow).toBe(true);
  });

  test("no state-changing methods on pages (server actions)", () => {
    expect(decide(req("POST", "/fleet", { identity: who("admin"), via: "cookie" }), options)).toMatchObject({
      allow: false,
      status: 405,
    });
  });
});

describe("CSRF, Host, body cap", () => {
  const op = { identity: who("operator"), via: "cookie" as const };
  const url = `/api/vms/${ID}/snapshots`;

  test("a text/plain POST with a cookie session is refused (415); form encodings too", () => {
    for (const type of ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]) {
      expect(decide(req("POST", url, op, { "content-type": type }), options)).toMatchObject({
        allow: false,
        status: 415,
      });
    }
    expect(decide(req("POST", url, op, { "content-type": "application/json; charset=utf-8" }), options).allow).toBe(
      true,
    );
  });

  test("a foreign Origin or a cross-site Sec-Fetch-Site is refused (403)", () => {
    expect(decide(req("POST", url, op, { origin: "https://evil.example" }), options)).toMatchObject({
      allow: false,
      status: 403,
    });
    expect(decide(req("POST", url, op, { origin: "http://localhost:3001" }), options)).toMatchObject({
      allow: false,
      status: 403,
    });
    expect(decide(req("DELETE", `/api/snapshots/${ID}`, op, { origin: "null" }), options)).toMatchObject({
      allow: false,
      status: 403,
    });
    expect(decide(req("POST", url, op, { origin: undefined, "sec-fetch-site": "cross-site" }), options)).toMatchObject({
      allow: false,
      status: 403,
    });
    expect(decide(req("POST", url, op, { origin: undefined, "sec-fetch-site": "same-site" }), options)).toMatchObject({
      allow: false,
      status: 403,
    });
  });

  test("the login itself is CSRF-checked (login CSRF)", () => {
    expect(decide(req("POST", "/api/auth/login", {}, { origin: "https://evil.example" }), options)).toMatchObject({
      allow: false,
      status: 403,
    });
    expect(decide(req("POST", "/api/auth/login", {}, { "content-type": "text/plain" }), options)).toMatchObject({
      allow: false,
      status: 415,
    });
  });

  test("bearer tokens are not ambient credentials: no Origin needed", () => {
    const d = decide(
      req(
        "POST",
        url,
        { identity: who("operator"), via: "bearer" },
        { origin: undefined, "sec-fetch-site": undefined },
      ),
      options,
    );
    expect(d.allow).toBe(true);
  });

  test("a foreign Host header is refused (DNS rebinding), allowed names pass", () => {
    expect(decide(req("GET", "/api/vms", op, { host: "rebind.evil.example:3000" }), options)).toMatchObject({
      allow: false,
      status: 400,
    });
    expect(decide(req("GET", "/api/vms", op, { host: undefined }), options)).toMatchObject({
      allow: false,
      status: 400,
    });
    expect(decide(req("GET", "/api/vms", op, { host: "[::1]:3000" }), options).allow).toBe(true);
    const extra = { allowedHosts: defaultAllowedHosts("0.0.0.0", ["snapfleet.example.org"]) };
    expect(decide(req("GET", "/api/vms", op, { host: "snapfleet.example.org" }), extra).allow).toBe(true);
    expect(extra.allowedHosts.has("0.0.0.0")).toBe(false);
  });

  test("bodies above 64 KiB → 413, chunked bodies → 411, before any rule", () => {
    expect(decide(req("POST", url, op, { "content-length": String(10 * 1024 * 1024) }), options)).toMatchObject({
      allow: false,
      status: 413,
    });
    expect(decide(req("POST", "/api/auth/login", {}, { "content-length": String(65 * 1024) }), options)).toMatchObject({
      allow: false,
      status: 413,
    });
    expect(
      decide(req("POST", url, op, { "content-length": undefined, "transfer-encoding": "chunked" }), options),
    ).toMatchObject({ allow: false, status: 411 });
    expect(decide(req("POST", url, op, { "content-length": String(64 * 1024) }), options).allow).toBe(true);
  });
});

describe("the /ws upgrade", () => {
  const ws = (over: Partial<GateRequest>, headers: GateRequest["headers"] = {}) =>
    decide({ ...req("GET", "/ws", over, { origin: "http://localhost:3000", ...headers }), upgrade: true }, options);

  test("anonymous → 401; a viewer's session from this site → allowed", () => {
    expect(ws({})).toMatchObject({ allow: false, status: 401 });
    expect(ws({ identity: who("viewer"), via: "cookie" })).toMatchObject({ allow: true, kind: "ws" });
  });

  test("a foreign or missing Origin with a cookie session → 403", () => {
    expect(ws({ identity: who("admin"), via: "cookie" }, { origin: "https://evil.example" })).toMatchObject({
      allow: false,
      status: 403,
    });
    expect(ws({ identity: who("admin"), via: "cookie" }, { origin: undefined })).toMatchObject({
      allow: false,
      status: 403,
    });
  });

  test("bearer tokens (scripts) need no Origin; a foreign Host is refused anyway", () => {
    expect(ws({ identity: who("viewer"), via: "bearer" }, { origin: undefined }).allow).toBe(true);
    expect(ws({ identity: who("viewer"), via: "bearer" }, { host: "evil.example" })).toMatchObject({
      allow: false,
      status: 400,
    });
  });

  test("other upgrade paths are refused", () => {
    expect(
      decide({ ...req("GET", "/other", { identity: who("admin"), via: "cookie" }), upgrade: true }, options),
    ).toMatchObject({ allow: false, status: 404 });
  });
});
