// The one table of who may do what: every app/api route (path pattern in the app router's own
// spelling, so a test can compare it with the files) and method → the least role, the audit action
// and which path parameter names the object acted on. tests/auth/route-rules.test.ts enumerates every
// app/api/**/route.ts and its exported methods and fails when one has no rule here: a new route
// cannot ship unguarded. Pages and WebSocket topics have their rules below.
// Roles: viewer reads; operator snapshots, cancels, restores, runs and edits schedules; admin manages
// hosts, users, tokens and settings. "public" is reachable without a login.
import type { Role } from "./roles";

export type Access = Role | "public";
export type HttpMethod = "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS";
export type TargetType = "host" | "vm" | "snapshot" | "schedule" | "user" | "token" | "webhook";

export interface MethodRule {
  access: Access;
  /** Audit action name, e.g. "snapshot.create" (state-changing methods). */
  action?: string;
}

export interface RouteRule {
  /** App-router path, e.g. "/api/hosts/[id]/discover". */
  pattern: string;
  /** The object acted on: its type and the pattern segment holding its id. */
  target?: { type: TargetType; param: string };
  methods: Partial<Record<HttpMethod, MethodRule>>;
}

/** The rules' words: who may call a method, and the audit action a state-changing one is recorded as. */
const viewer: MethodRule = { access: "viewer" };
const operator = (action: string): MethodRule => ({ access: "operator", action });
const admin = (action?: string): MethodRule => (action ? { access: "admin", action } : { access: "admin" });
const anyone = (action?: string): MethodRule => (action ? { access: "public", action } : { access: "public" });

/** The object a route acts on, named by its [id] segment. */
const byId = (type: TargetType) => ({ type, param: "id" });
const host = byId("host");
const vm = byId("vm");
const snapshot = byId("snapshot");
const schedule = byId("schedule");
const user = byId("user");
const token = byId("token");
const webhook = byId("webhook");

export const ROUTE_RULES: RouteRule[] = [
  // Liveness for load balancers and the start scripts: version and database up/down only.
  { pattern: "/api/health", methods: { GET: anyone() } },
  // The OpenAPI document (lib/openapi): a login like every other page and route — it maps the admin
  // surface too, and nothing outside needs it before logging in.
  { pattern: "/api/openapi.json", methods: { GET: viewer } },

  // Authentication (lib/auth): the handlers check credentials, set-up tokens and rate limits themselves.
  { pattern: "/api/auth/login", methods: { POST: anyone("auth.login") } },
  { pattern: "/api/auth/logout", methods: { POST: anyone("auth.logout") } },
  { pattern: "/api/auth/me", methods: { GET: viewer } },
  { pattern: "/api/auth/setup", methods: { GET: anyone(), POST: anyone("auth.setup") } },

  { pattern: "/api/users", methods: { GET: admin(), POST: admin("user.create") } },
  { pattern: "/api/users/[id]", target: user, methods: { PATCH: admin("user.update"), DELETE: admin("user.delete") } },
  { pattern: "/api/tokens", methods: { GET: admin(), POST: admin("token.create") } },
  { pattern: "/api/tokens/[id]", target: token, methods: { DELETE: admin("token.revoke") } },
  { pattern: "/api/audit", methods: { GET: admin() } },
  // Webhooks (lib/webhooks): admins only — a hook makes the dashboard POST to a URL of their choosing.
  { pattern: "/api/webhooks", methods: { GET: admin(), POST: admin("webhook.create") } },
  {
    pattern: "/api/webhooks/[id]",
    target: webhook,
    methods: { PATCH: admin("webhook.update"), DELETE: admin("webhook.delete") },
  },
  { pattern: "/api/webhooks/[id]/deliveries", target: webhook, methods: { GET: admin() } },
  { pattern: "/api/webhooks/[id]/test", target: webhook, methods: { POST: admin("webhook.test") } },

  { pattern: "/api/hosts", methods: { GET: viewer, POST: admin("host.create") } },
  {
    pattern: "/api/hosts/[id]",
    target: host,
    methods: { GET: viewer, PATCH: admin("host.update"), DELETE: admin("host.delete") },
  },
  { pattern: "/api/hosts/[id]/discover", target: host, methods: { POST: operator("host.discover") } },
  // Snapshot space per VM, free space and whether the next day's scheduled snapshots fit (lib/fleet/host-storage.ts).
  { pattern: "/api/hosts/[id]/storage", target: host, methods: { GET: viewer } },

  { pattern: "/api/vms", methods: { GET: viewer } },
  { pattern: "/api/vms/[id]", target: vm, methods: { GET: viewer, PATCH: operator("vm.tags.update") } },
  { pattern: "/api/vms/[id]/pause-plan", target: vm, methods: { GET: viewer } },
  { pattern: "/api/vms/[id]/snapshots", target: vm, methods: { GET: viewer, POST: operator("snapshot.create") } },
  // A guest Snapfleet paused for a snapshot and could not resume (lib/snapshots/guest-attention.ts).
  { pattern: "/api/vms/[id]/resume", target: vm, methods: { POST: operator("vm.resume") } },
  // Whether the VM's snapshots freeze its filesystems through its guest agent (lib/fleet/vm-quiesce.ts).
  { pattern: "/api/vms/[id]/quiesce", target: vm, methods: { PUT: operator("vm.quiesce.update") } },
  { pattern: "/api/vms/[id]/disk-drift/check", target: vm, methods: { POST: operator("vm.disk-drift.check") } },
  {
    pattern: "/api/vms/[id]/disk-drift/acknowledge",
    target: vm,
    methods: { POST: operator("vm.disk-drift.acknowledge") },
  },

  { pattern: "/api/snapshots", methods: { GET: viewer } },
  // "Snapshot now" for a selection of VMs (lib/snapshots/batches.ts) and its one progress view.
  { pattern: "/api/snapshots/bulk", methods: { POST: operator("snapshot.bulk-create") } },
  { pattern: "/api/snapshots/batches/[id]", methods: { GET: viewer } },
  { pattern: "/api/snapshots/[id]", target: snapshot, methods: { GET: viewer, DELETE: operator("snapshot.delete") } },
  { pattern: "/api/snapshots/[id]/cancel", target: snapshot, methods: { POST: operator("snapshot.cancel") } },
  // A job that stays in flight (lib/snapshots/force-fail.ts).
  { pattern: "/api/snapshots/[id]/force-fail", target: snapshot, methods: { POST: operator("snapshot.force-fail") } },
  {
    pattern: "/api/snapshots/[id]/restore",
    target: snapshot,
    methods: { GET: viewer, POST: operator("snapshot.restore") },
  },
  {
    pattern: "/api/snapshots/[id]/verify",
    target: snapshot,
    methods: { GET: viewer, POST: operator("snapshot.verify") },
  },
  { pattern: "/api/snapshots/[id]/verify/screenshot", target: snapshot, methods: { GET: viewer } },
  { pattern: "/api/vms/[id]/restores", target: vm, methods: { GET: viewer } },
  { pattern: "/api/restores/[id]", methods: { GET: viewer } },

  { pattern: "/api/schedules", methods: { GET: viewer, POST: operator("schedule.create") } },
  { pattern: "/api/schedules/preview", methods: { GET: viewer } },
  { pattern: "/api/schedules/calendar", methods: { GET: viewer } },
  {
    pattern: "/api/schedules/[id]",
    target: schedule,
    methods: { GET: viewer, PATCH: operator("schedule.update"), DELETE: operator("schedule.delete") },
  },
  { pattern: "/api/schedules/[id]/run", target: schedule, methods: { POST: operator("schedule.run") } },
  { pattern: "/api/schedules/[id]/preview-retention", target: schedule, methods: { GET: viewer } },

  // Prometheus scrapes (app/metrics/route.ts, lib/metrics): outside /api by convention, guarded like it.
  { pattern: "/metrics", methods: { GET: viewer } },
];

/**
 * Paths outside /api that the gate treats as API routes (their rule above; 401/403 answered as JSON,
 * never a redirect to /login): they serve machines — scrapers, scripts — not pages.
 */
export const MACHINE_PATHS = ["/metrics"];

/** The WebSocket upgrade: its own rule, checked by the same gate. */
export const WS_PATH = "/ws";
export const WS_ACCESS: Access = "viewer";

/** Topics a socket may follow, by prefix. Every topic needs at least this role. */
export const TOPIC_RULES: Array<{ prefix: string; access: Role }> = [
  { prefix: "fleet", access: "viewer" },
  { prefix: "vm:", access: "viewer" },
  { prefix: "snapshot:", access: "viewer" },
  { prefix: "restore:", access: "viewer" },
];

/** Pages: everything needs a login (viewer) except these; a few need admin. */
export const PUBLIC_PAGE_PREFIXES = [
  "/login",
  "/setup",
  "/_next/static/",
  "/_next/image",
  "/favicon.ico",
  "/robots.txt",
];
export const ADMIN_PAGE_PREFIXES = ["/settings/audit", "/settings/users", "/settings/webhooks"];

export interface MatchedRoute {
  rule: RouteRule;
  params: Record<string, string>;
}

function segmentsOf(p: string): string[] {
  return p.split("/").filter(Boolean);
}

const compiled = ROUTE_RULES.map((rule) => ({ rule, segments: segmentsOf(rule.pattern) }));

/**
 * The rule for a concrete path. Static segments win over dynamic ones at the same depth (as in Next's
 * router: /api/schedules/preview is not /api/schedules/[id]).
 */
export function matchRoute(pathname: string, rules = compiled): MatchedRoute | null {
  const parts = segmentsOf(pathname);
  let best: { match: MatchedRoute; score: number } | null = null;
  for (const { rule, segments } of rules) {
    if (segments.length !== parts.length) continue;
    const params: Record<string, string> = {};
    let score = 0;
    let ok = true;
    for (let i = 0; i < segments.length; i++) {
      const seg = segments[i]!;
      const part = parts[i]!;
      if (seg.startsWith("[") && seg.endsWith("]")) {
        params[seg.slice(1, -1)] = part;
      } else if (seg === part) {
        score += 1 << (segments.length - i);
      } else {
        ok = false;
        break;
      }
    }
    if (ok && (!best || score > best.score)) best = { match: { rule, params }, score };
  }
  return best?.match ?? null;
}

export function compileRules(rules: RouteRule[]) {
  return rules.map((rule) => ({ rule, segments: segmentsOf(rule.pattern) }));
}

export function topicAccess(topic: string): Role | null {
  for (const r of TOPIC_RULES)
    if (r.prefix.endsWith(":") ? topic.startsWith(r.prefix) : topic === r.prefix) return r.access;
  return null;
}
