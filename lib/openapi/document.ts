// buildOpenApiDocument(): the OpenAPI 3.1 document of every registered route (./registry.ts), made from
// the routes' own zod schemas with zod's JSON Schema converter (OpenAPI 3.1 schemas are JSON Schema
// 2020-12). Request schemas are converted as their input side (what a client sends: before defaults,
// coercions and transforms), responses as their output side. The role of each operation comes from
// lib/auth/route-rules.ts, the table the gate enforces; the error body from lib/http/error-body.ts.
// Invariants: pure and deterministic (same registry → same document; no I/O); an operation without a
// rule in route-rules.ts throws, so the document never shows an operation the gate does not know.
import { z } from "zod";
import { ROUTE_RULES, type Access, type HttpMethod } from "../auth/route-rules";
import { SESSION_COOKIE } from "../auth/store";
import { BODY_LIMIT_BYTES } from "../auth/gate";
import { readVersion } from "../config";
import { hostJsonSchema, vmJsonSchema } from "../fleet/vm-json";
import { errorBodySchema } from "../http/error-body";
import { restoreJsonSchema, rollbackPlanJsonSchema } from "../restore/restore-json";
import { snapshotJsonSchema, snapshotListJsonSchema } from "../snapshots/snapshot-json";
import { API_TAGS, type ApiOperation, type ApiResponse } from "./operation";
import { operations, pathParamDescription } from "./registry";
import type { JsonSchema, OpenApiDocument, OpenApiOperation, OpenApiParameter } from "./types";

/** Wire shapes shared by many answers: one named component each, referenced where they appear. */
const NAMED_RESPONSE_SCHEMAS: Array<[string, z.ZodType]> = [
  ["Error", errorBodySchema],
  ["SnapshotJson", snapshotJsonSchema],
  ["SnapshotListJson", snapshotListJsonSchema],
  ["VmJson", vmJsonSchema],
  ["HostJson", hostJsonSchema],
  ["RestoreJson", restoreJsonSchema],
  ["RollbackPlanJson", rollbackPlanJsonSchema],
];

const ref = (id: string) => `#/components/schemas/${id}`;

type ConverterContext = { zodSchema: { _zod: { def: { type: string; catchall?: unknown } } }; jsonSchema: JsonSchema };

function converterOptions(io: "input" | "output") {
  const override = (ctx: ConverterContext) => {
    const def = ctx.zodSchema._zod.def;
    // Dates have no JSON form of their own: on the wire they are ISO 8601 strings.
    if (def.type === "date") {
      ctx.jsonSchema.type = "string";
      ctx.jsonSchema.format = "date-time";
    }
    // zod closes a plain z.object's output (it strips unknown keys); an answer may well carry more
    // fields than its schema names, so only strict objects stay closed.
    if (
      io === "output" &&
      def.type === "object" &&
      def.catchall === undefined &&
      ctx.jsonSchema.additionalProperties === false
    ) {
      delete ctx.jsonSchema.additionalProperties;
    }
  };
  return { target: "draft-2020-12", io, unrepresentable: "any", override } as const;
}

/** Components are embedded in the document: no dialect or `$id` of their own. */
function asComponent(schema: JsonSchema): JsonSchema {
  const { $schema: _dialect, $id: _id, ...rest } = schema;
  return rest;
}

/** A registry of schemas to convert together, so shared ones become `$ref`s to one component. */
class ComponentSet {
  readonly registry = z.registry<{ id: string }>();

  constructor(readonly io: "input" | "output") {}

  /** The component id of `schema`, registering it under `id` the first time it is seen. */
  idOf(schema: z.ZodType, id: string): string {
    const known = this.registry.get(schema)?.id;
    if (known) return known;
    this.registry.add(schema, { id });
    return id;
  }

  convert(): Record<string, JsonSchema> {
    const { schemas } = z.toJSONSchema(this.registry, { ...converterOptions(this.io), uri: ref });
    return Object.fromEntries(Object.entries(schemas).map(([id, s]) => [id, asComponent(s as JsonSchema)]));
  }
}

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** "POST", "/api/hosts/[id]/discover" → "postHostsByIdDiscover". */
function operationIdOf(method: HttpMethod, pattern: string): string {
  const words = pattern
    .split("/")
    .filter(Boolean)
    .slice(1)
    .flatMap((seg) => (seg.startsWith("[") ? [`by-${seg.slice(1, -1)}`] : [seg]))
    .flatMap((seg) => seg.split(/[^A-Za-z0-9]+/))
    .filter(Boolean);
  return method.toLowerCase() + words.map(capitalize).join("");
}

/** "/api/hosts/[id]" → "/api/hosts/{id}". */
export function openApiPath(pattern: string): string {
  return pattern.replace(/\[([^\]]+)\]/g, "{$1}");
}

function pathParamNames(pattern: string): string[] {
  return [...pattern.matchAll(/\[([^\]]+)\]/g)].map((m) => m[1]!);
}

function ruleOf(method: HttpMethod, pattern: string) {
  const rule = ROUTE_RULES.find((r) => r.pattern === pattern)?.methods[method];
  if (!rule)
    throw new Error(
      `${method} ${pattern} is registered in lib/openapi/registry.ts but has no rule in lib/auth/route-rules.ts`,
    );
  return rule;
}

function queryParameters(query: z.ZodType, key: string): OpenApiParameter[] {
  const schema = z.toJSONSchema(query, converterOptions("input")) as JsonSchema;
  const properties = schema.properties as Record<string, JsonSchema> | undefined;
  if (schema.type !== "object" || !properties)
    throw new Error(`${key}: its query schema must be a z.object (one property per query parameter)`);
  const required = new Set((schema.required as string[] | undefined) ?? []);
  return Object.entries(properties).map(([name, s]) => {
    const { description, ...rest } = s;
    return {
      name,
      in: "query" as const,
      required: required.has(name),
      ...(typeof description === "string" ? { description } : {}),
      schema: rest,
      // Lists travel comma-separated in one parameter (state=running,paused).
      ...(rest.type === "array" ? { style: "form" as const, explode: false } : {}),
    };
  });
}

const ROLE_WORDS: Record<Access, string> = {
  public: "No login needed.",
  viewer: "Role: **viewer** or above (any logged-in user or API token).",
  operator: "Role: **operator** or above.",
  admin: "Role: **admin**.",
};

function isStateChanging(method: HttpMethod): boolean {
  return !["GET", "HEAD", "OPTIONS"].includes(method);
}

/** What the gate and respond.ts answer besides the route's own statuses. */
function generatedErrors(
  method: HttpMethod,
  pattern: string,
  op: ApiOperation,
  access: Access,
): Record<number, string> {
  const errors: Record<number, string> = {};
  if (op.query || op.body)
    errors[400] = "Invalid input: `error` says what to fix, `details` holds the issues per field.";
  if (access !== "public") errors[401] = "Not logged in: no valid session cookie or `Authorization: Bearer` token.";
  if (access === "operator" || access === "admin") errors[403] = `Your role is below ${access}.`;
  else if (isStateChanging(method)) errors[403] = "A cross-site request with a session cookie.";
  if (pathParamNames(pattern).length) errors[404] = "No such object (a malformed id too).";
  if (op.body) errors[413] = `The body is larger than ${BODY_LIMIT_BYTES / 1024} KiB.`;
  return errors;
}

function responseObject(status: number, r: ApiResponse, outputs: ComponentSet, componentId: string) {
  const contentType = r.contentType ?? "application/json";
  if (status >= 400)
    return { description: r.description, content: { [contentType]: { schema: { $ref: ref("Error") } } } };
  if (status === 204) return { description: r.description };
  if (r.schema)
    return {
      description: r.description,
      content: { [contentType]: { schema: { $ref: ref(outputs.idOf(r.schema, componentId)) } } },
    };
  const schema =
    contentType === "application/json" ? { type: "object" } : { type: "string", contentMediaType: contentType };
  return { description: r.description, content: { [contentType]: { schema } } };
}

export function buildOpenApiDocument(): OpenApiDocument {
  const outputs = new ComponentSet("output");
  const inputs = new ComponentSet("input");
  for (const [id, schema] of NAMED_RESPONSE_SCHEMAS) outputs.idOf(schema, id);

  const paths: OpenApiDocument["paths"] = {};
  for (const { key, method, pattern, op } of operations()) {
    const rule = ruleOf(method, pattern);
    const operationId = operationIdOf(method, pattern);
    const parameters: OpenApiParameter[] = [
      ...pathParamNames(pattern).map((name) => ({
        name,
        in: "path" as const,
        required: true,
        description: pathParamDescription(pattern, name),
        schema: { type: "string", format: "uuid" },
      })),
      ...(op.query ? queryParameters(op.query, key) : []),
    ];
    const responses: OpenApiOperation["responses"] = {};
    for (const [status, r] of Object.entries(op.responses)) {
      responses[status] = responseObject(Number(status), r, outputs, `${capitalize(operationId)}${status}`);
    }
    for (const [status, description] of Object.entries(generatedErrors(method, pattern, op, rule.access))) {
      responses[status] ??= { description, content: { "application/json": { schema: { $ref: ref("Error") } } } };
    }
    if (op.responses[429])
      responses[429]!.headers = { "Retry-After": { description: "Seconds to wait.", schema: { type: "integer" } } };

    const operation: OpenApiOperation = {
      operationId,
      tags: [op.tag],
      summary: op.summary,
      description: [op.description, ROLE_WORDS[rule.access]].filter(Boolean).join("\n\n"),
      ...(parameters.length ? { parameters } : {}),
      ...(op.body
        ? {
            requestBody: {
              // parseBody reads an empty body as {}: the body is optional when {} is valid input.
              required: !op.body.safeParse({}).success,
              content: {
                "application/json": { schema: { $ref: ref(inputs.idOf(op.body, `${capitalize(operationId)}Body`)) } },
              },
            },
          }
        : {}),
      responses,
      security: rule.access === "public" ? [] : [{ bearerAuth: [] }, { sessionCookie: [] }],
      "x-snapfleet-role": rule.access,
      ...(rule.action ? { "x-snapfleet-audit-action": rule.action } : {}),
    };
    (paths[openApiPath(pattern)] ??= {})[method.toLowerCase() as Lowercase<HttpMethod>] = operation;
  }

  return {
    openapi: "3.1.0",
    info: {
      title: "Snapfleet API",
      version: readVersion(),
      description:
        "Live snapshots of QEMU VMs across a fleet of hosts. Send an API token as `Authorization: Bearer <token>` " +
        "(`npx snapfleet token create --role operator --name ci`); browsers use the session cookie set by POST /api/auth/login. " +
        "Every error answers `{ error, details? }`. Long jobs answer 202 and are followed on the `/ws` WebSocket (topics `snapshot:<id>`, `vm:<id>`, `restore:<id>`, `fleet`).",
    },
    tags: Object.entries(API_TAGS).map(([name, description]) => ({ name, description })),
    paths,
    components: {
      schemas: { ...outputs.convert(), ...inputs.convert() },
      securitySchemes: {
        bearerAuth: {
          type: "http",
          scheme: "bearer",
          description: "An API token (Settings, `POST /api/tokens` or `npx snapfleet token create`).",
        },
        sessionCookie: {
          type: "apiKey",
          in: "cookie",
          name: SESSION_COOKIE,
          description: "The browser session set by POST /api/auth/login.",
        },
      },
    },
  };
}
