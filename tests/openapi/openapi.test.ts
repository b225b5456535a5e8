// The OpenAPI contract cannot drift from the routes: every app/api/**/route.ts method has a registry
// entry (lib/openapi/registry.ts) and every entry a route; each handler parses its query and body with
// the very schema objects its entry names (resolved through the route file's imports, compared by
// identity), and reads no input around them; the generated document is valid OpenAPI 3.1 (checked by
// @apidevtools/swagger-parser against the 3.1 schema), carries each route's role from route-rules.ts,
// and is what GET /api/openapi.json serves. The checker itself is shown catching each kind of drift.
import path from "node:path";
import SwaggerParser from "@apidevtools/swagger-parser";
import { createElement } from "react";
import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, test } from "vitest";
import { z } from "zod";
import { GET as openApiRoute } from "../../app/api/openapi.json/route";
import { ApiReference } from "../../components/api-docs/api-reference";
import { decide, defaultAllowedHosts } from "../../lib/auth/gate";
import { ROUTE_RULES, type HttpMethod } from "../../lib/auth/route-rules";
import { buildOpenApiDocument, openApiPath } from "../../lib/openapi/document";
import type { ApiOperation } from "../../lib/openapi/operation";
import { API_OPERATIONS, operations } from "../../lib/openapi/registry";
import { scheduleUpdateSchema } from "../../lib/validations/schedule";
import { routeFiles } from "../support/app-routes";
import {
  analyseRouteFile,
  analyseRouteSource,
  ROOT,
  type InputKind,
  type ParseCall,
  type RouteFileAnalysis,
} from "./route-analysis";

const registry = API_OPERATIONS as Record<string, ApiOperation>;
const analyses = routeFiles().map(analyseRouteFile);
const routeMethods = analyses.flatMap((a) =>
  [...a.methods.entries()].map(([method, calls]) => ({ key: `${method} ${a.pattern}`, file: a.file, calls })),
);

/** The registry's schema for this input, or why the handler's call does not match it. */
async function contractProblems(key: string, calls: ParseCall[], entry: ApiOperation): Promise<string[]> {
  const problems: string[] = [];
  for (const kind of ["body", "query"] as InputKind[]) {
    const mine = calls.filter((c) => c.kind === kind);
    const expected = entry[kind];
    const parser = kind === "body" ? "parseBody" : "parseQuery";
    if (!expected && mine.length) problems.push(`${key} calls ${parser}() but its registry entry has no \`${kind}\``);
    if (expected && !mine.length)
      problems.push(`${key}: the registry says \`${kind}\` but the handler never calls ${parser}()`);
    if (!expected) continue;
    for (const call of mine) {
      if ("unresolved" in call.source) {
        problems.push(`${key} line ${call.line}: ${call.source.unresolved}`);
        continue;
      }
      const mod = (await import(call.source.module)) as Record<string, unknown>;
      if (mod[call.source.exportName] !== expected) {
        problems.push(
          `${key} line ${call.line}: ${parser}() uses ${call.source.exportName} from ${path.relative(ROOT, call.source.module)}, not the registry's \`${kind}\` schema`,
        );
      }
    }
  }
  return problems;
}

describe("every route is registered, every entry is a route", () => {
  test("the route files were found and read", () => {
    expect(routeMethods.length).toBeGreaterThan(30);
    expect(Object.keys(registry).length).toBeGreaterThan(30);
  });

  test.each(routeMethods)("$key ($file) has an entry in lib/openapi/registry.ts", ({ key }) => {
    expect(
      registry[key],
      `add "${key}" to its part's table in lib/openapi/operations/ (lib/openapi/registry.ts's header says how)`,
    ).toBeDefined();
  });

  test.each(Object.keys(registry))("%s exists as a route file and exported method", (key) => {
    expect(
      routeMethods.map((r) => r.key),
      `"${key}" is registered but no app/api route file exports it: remove or fix the entry`,
    ).toContain(key);
  });
});

describe("each handler parses its input with the registry's schema objects", () => {
  test.each(analyses.filter((a) => a.methods.size > 0))(
    "$file reads its input only through parseBody/parseQuery",
    (a: RouteFileAnalysis) => {
      expect(a.problems).toEqual([]);
    },
  );

  test.each(routeMethods.filter((r) => registry[r.key]))("$key", async ({ key, calls }) => {
    expect(await contractProblems(key, calls, registry[key]!)).toEqual([]);
  });
});

describe("the checker catches drift", () => {
  const file = path.join(ROOT, "app/api/schedules/[id]/route.ts");
  const entry = registry["PATCH /api/schedules/[id]"]!;
  const check = async (source: string) => {
    const a = analyseRouteSource(file, source);
    return [
      ...a.problems,
      ...(await contractProblems("PATCH /api/schedules/[id]", a.methods.get("PATCH") ?? [], entry)),
    ];
  };
  const header = 'import { parseBody, route } from "@/lib/http/respond";\n';

  test("the real handler passes", async () => {
    expect(entry.body).toBe(scheduleUpdateSchema);
    expect(
      await check(`${header}import { scheduleUpdateSchema } from "@/lib/validations/schedule";
export const PATCH = route(async (req: Request) => parseBody(req, scheduleUpdateSchema));`),
    ).toEqual([]);
  });

  test("another exported schema (the create schema for an update)", async () => {
    expect(
      await check(`${header}import { scheduleCreateSchema } from "@/lib/validations/schedule";
export const PATCH = route(async (req: Request) => parseBody(req, scheduleCreateSchema));`),
    ).toEqual([
      expect.stringMatching(
        /uses scheduleCreateSchema from lib\/validations\/schedule.ts, not the registry's `body` schema/,
      ),
    ]);
  });

  test("a schema declared in the route file, or derived inline", async () => {
    expect(
      await check(`${header}import { z } from "zod";
const local = z.object({ name: z.string() });
export const PATCH = route(async (req: Request) => parseBody(req, local));`),
    ).toEqual([expect.stringMatching(/`local` is declared in the route file/)]);
    expect(
      await check(`${header}import { scheduleUpdateSchema } from "@/lib/validations/schedule";
export const PATCH = route(async (req: Request) => parseBody(req, scheduleUpdateSchema.partial()));`),
    ).toEqual([expect.stringMatching(/is an expression; pass an exported schema by name/)]);
  });

  test("input read around the schema, or parsed outside the handler", async () => {
    expect(
      await check(`${header}export const PATCH = route(async (req: Request) => Response.json(await req.json()));`),
    ).toEqual([
      expect.stringMatching(/req\.json\(\) reads the input without a schema/),
      expect.stringMatching(/the registry says `body` but the handler never calls parseBody/),
    ]);
    expect(
      await check(`${header}import { scheduleUpdateSchema } from "@/lib/validations/schedule";
const read = (req: Request) => parseBody(req, scheduleUpdateSchema);
export const PATCH = route(async (req: Request) => Response.json(await read(req)));`),
    ).toEqual([
      expect.stringMatching(/parseBody\(\) outside an exported method handler/),
      expect.stringMatching(/the registry says `body` but the handler never calls parseBody/),
    ]);
  });

  test("a query parsed where the registry has none", async () => {
    expect(
      await check(`import { parseBody, parseQuery, route } from "@/lib/http/respond";
import { scheduleUpdateSchema, calendarQuerySchema } from "@/lib/validations/schedule";
export const PATCH = route(async (req: Request) => { parseQuery(req, calendarQuerySchema); return parseBody(req, scheduleUpdateSchema); });`),
    ).toEqual([expect.stringMatching(/calls parseQuery\(\) but its registry entry has no `query`/)]);
  });
});

describe("the generated document", () => {
  const doc = buildOpenApiDocument();

  test("is valid OpenAPI 3.1", async () => {
    const validated = (await SwaggerParser.validate(structuredClone(doc) as never)) as { openapi: string };
    expect(validated.openapi).toBe("3.1.0");
  });

  test.each(operations())(
    "$key: role and audit action from route-rules.ts, parameters from the pattern",
    ({ method, pattern, op }) => {
      const operation = doc.paths[openApiPath(pattern)]?.[method.toLowerCase() as Lowercase<HttpMethod>];
      const rule = ROUTE_RULES.find((r) => r.pattern === pattern)!.methods[method]!;
      expect(operation).toBeDefined();
      expect(operation!["x-snapfleet-role"]).toBe(rule.access);
      expect(operation!["x-snapfleet-audit-action"]).toBe(rule.action);
      expect(operation!.security).toEqual(rule.access === "public" ? [] : [{ bearerAuth: [] }, { sessionCookie: [] }]);
      const pathParams = [...pattern.matchAll(/\[([^\]]+)\]/g)].map((m) => m[1]);
      expect((operation!.parameters ?? []).filter((p) => p.in === "path").map((p) => p.name)).toEqual(pathParams);
      if (op.query) {
        const names = Object.keys(
          (z.toJSONSchema(op.query, { io: "input", unrepresentable: "any" }) as { properties: object }).properties,
        );
        expect((operation!.parameters ?? []).filter((p) => p.in === "query").map((p) => p.name)).toEqual(names);
      }
      expect(Boolean(operation!.requestBody)).toBe(Boolean(op.body));
      if (rule.access !== "public") expect(operation!.responses["401"]).toBeDefined();
    },
  );

  test("a request body is described as the client sends it (input side: defaults optional, transforms before)", () => {
    const body = doc.components.schemas.PostSchedulesBody as {
      required: string[];
      properties: Record<string, { type?: string }>;
    };
    expect([...body.required].sort()).toEqual(["cron", "name", "targets"]);
    expect(body.properties.cron!.type).toBe("string");
    expect(doc.paths["/api/schedules"]!.post!.requestBody!.required).toBe(true);
    // snapshotCreateSchema accepts {} (mode defaults to live): the body may be left out.
    expect(doc.paths["/api/vms/{id}/snapshots"]!.post!.requestBody!.required).toBe(false);
  });

  test("every $ref points at a component", () => {
    const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)].map((m) => m[1]!);
    expect(refs.length).toBeGreaterThan(50);
    for (const r of new Set(refs)) expect(doc.components.schemas, r).toHaveProperty(r);
  });

  test("GET /api/openapi.json serves it, to any logged-in role and nobody else", async () => {
    const res = await openApiRoute();
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/json");
    expect(await res.json()).toEqual(JSON.parse(JSON.stringify(doc)));
    const options = { allowedHosts: defaultAllowedHosts("127.0.0.1") };
    const req = (path: string, role: "viewer" | null) => ({
      method: "GET",
      url: path,
      headers: { host: "localhost:3000" },
      identity: role ? { kind: "token" as const, id: "t", name: "ci", role } : null,
      via: role ? ("bearer" as const) : null,
    });
    expect(decide(req("/api/openapi.json", null), options)).toMatchObject({ allow: false, status: 401 });
    expect(decide(req("/api/openapi.json", "viewer"), options)).toMatchObject({ allow: true, kind: "api" });
    expect(decide(req("/api-docs", null), options)).toMatchObject({
      allow: false,
      status: 401,
      redirect: "/login?next=%2Fapi-docs",
    });
    expect(decide(req("/api-docs", "viewer"), options)).toMatchObject({ allow: true, kind: "page" });
  });
});

describe("the /api-docs page", () => {
  test("renders every operation with its method, path and role, and links every schema it refers to", () => {
    const doc = buildOpenApiDocument();
    const html = renderToStaticMarkup(createElement(ApiReference, { doc }));
    for (const { method, pattern } of operations()) {
      const label = `${method} ${openApiPath(pattern)}`;
      expect(html, label).toContain(`aria-label="${label}"`);
    }
    const op = html.slice(html.indexOf('aria-label="POST /api/vms/{id}/snapshots"'));
    expect(op.slice(0, op.indexOf("</article>"))).toMatch(
      />operator<[\s\S]*Request body \(JSON, optional\)[\s\S]*href="#schema-PostVmsByIdSnapshotsBody"/,
    );
    for (const [, name] of html.matchAll(/href="#schema-([^"]+)"/g))
      expect(html, name).toContain(`id="schema-${name}"`);
  });
});
