// The answers the OpenAPI document promises are the answers the routes give: the real route handlers,
// against a real PostgreSQL holding a host, VMs, a completed snapshot, a schedule, a user, a token and
// audit events, each parsed with the response schema lib/openapi/registry.ts registers for its status
// (a missing or mistyped field fails, and so does a field the schema does not name).
// (Routes that need a live QEMU — pause plan, resume, disk-drift check, verify — are covered by their
// schema in the document only.)
import { describe, expect, test } from "vitest";
import { GET as auditRoute } from "../../app/api/audit/route";
import { GET as meRoute } from "../../app/api/auth/me/route";
import { GET as setupRoute } from "../../app/api/auth/setup/route";
import { GET as healthRoute } from "../../app/api/health/route";
import { GET as hostRoute } from "../../app/api/hosts/[id]/route";
import { GET as hostsRoute } from "../../app/api/hosts/route";
import { GET as scheduleRetentionRoute } from "../../app/api/schedules/[id]/preview-retention/route";
import { GET as scheduleRoute, PATCH as scheduleUpdateRoute } from "../../app/api/schedules/[id]/route";
import { POST as scheduleRunRoute } from "../../app/api/schedules/[id]/run/route";
import { GET as calendarRoute } from "../../app/api/schedules/calendar/route";
import { GET as cronPreviewRoute } from "../../app/api/schedules/preview/route";
import { GET as schedulesRoute, POST as scheduleCreateRoute } from "../../app/api/schedules/route";
import { GET as rollbackPlanRoute } from "../../app/api/snapshots/[id]/restore/route";
import { GET as snapshotRoute } from "../../app/api/snapshots/[id]/route";
import { GET as verificationRoute } from "../../app/api/snapshots/[id]/verify/route";
import { GET as snapshotsRoute } from "../../app/api/snapshots/route";
import { GET as tokensRoute, POST as tokenCreateRoute } from "../../app/api/tokens/route";
import { GET as usersRoute, POST as userCreateRoute } from "../../app/api/users/route";
import { GET as vmRestoresRoute } from "../../app/api/vms/[id]/restores/route";
import { GET as vmRoute } from "../../app/api/vms/[id]/route";
import { GET as vmSnapshotsRoute } from "../../app/api/vms/[id]/snapshots/route";
import { GET as vmsRoute } from "../../app/api/vms/route";
import { recordAudit } from "../../lib/auth/audit";
import { encodeIdentity, IDENTITY_HEADER } from "../../lib/auth/roles";
import { db } from "../../lib/db/client";
import type { ApiOperation } from "../../lib/openapi/operation";
import { API_OPERATIONS } from "../../lib/openapi/registry";
import { useTestDatabase } from "../support/db";
import { seedHost, seedVms } from "../scheduler/support";

useTestDatabase();

const registry = API_OPERATIONS as Record<string, ApiOperation>;
const ctx = (id: string) => ({ params: Promise.resolve({ id }) });
const get = (url: string, headers: Record<string, string> = {}) => new Request(`http://localhost${url}`, { headers });
const post = (url: string, body: unknown) =>
  new Request(`http://localhost${url}`, { method: "POST", body: JSON.stringify(body) });
const admin = {
  [IDENTITY_HEADER]: encodeIdentity({
    kind: "user",
    id: "00000000-0000-4000-8000-000000000001",
    name: "alice",
    role: "admin",
  }),
};

/** The answer's status is one the registry lists for `key`, and its body parses with that status's schema. */
async function expectConforms(key: string, res: Response, status: number) {
  const text = await res.text();
  expect(res.status, `${key}: ${text.slice(0, 300)}`).toBe(status);
  const spec = registry[key]?.responses[status];
  expect(spec, `${key} answers ${status}, which lib/openapi/registry.ts does not list`).toBeDefined();
  if (!spec!.schema) return;
  const body: unknown = JSON.parse(text);
  const parsed = spec!.schema.safeParse(body);
  expect(parsed.success ? [] : parsed.error.issues, `${key} ${status} does not match its registered schema`).toEqual(
    [],
  );
  // Parsing strips what the schema does not name: a field the answer has and the document lacks shows here.
  expect(parsed.data, `${key} ${status} carries fields its registered schema does not describe`).toEqual(body);
}

describe("the answers match the document", () => {
  test("health, who am I, first-run set-up", async () => {
    await expectConforms("GET /api/health", await healthRoute(), 200);
    await expectConforms("GET /api/auth/me", await meRoute(get("/api/auth/me", admin)), 200);
    await expectConforms("GET /api/auth/setup", await setupRoute(get("/api/auth/setup?token=nope")), 200);
  });

  test("users, tokens and the audit log", async () => {
    await expectConforms(
      "POST /api/users",
      await userCreateRoute(
        post("/api/users", { name: "bob", role: "operator", password: "a long enough passphrase 42" }),
      ),
      201,
    );
    await expectConforms("GET /api/users", await usersRoute(), 200);
    await expectConforms(
      "POST /api/tokens",
      await tokenCreateRoute(
        new Request("http://localhost/api/tokens", {
          method: "POST",
          headers: admin,
          body: JSON.stringify({ name: "ci", role: "viewer", expiresIn: "30d" }),
        }),
      ),
      201,
    );
    await expectConforms("GET /api/tokens", await tokensRoute(), 200);
    await recordAudit({
      identity: null,
      actorName: "bob",
      action: "auth.login",
      method: "POST",
      path: "/api/auth/login",
      ip: "127.0.0.1",
      status: 401,
      error: "wrong user name or password",
    });
    const res = await auditRoute(get("/api/audit?outcome=failed"));
    const body = await res.clone().json();
    expect(body.events.length).toBeGreaterThan(0);
    await expectConforms("GET /api/audit", res, 200);
  });

  test("hosts, VMs, snapshots, restores", async () => {
    const host = await seedHost("alpha");
    const [vm] = await seedVms(host.id, ["web-1", "web-2"], ["tier-web"]);
    const now = Date.now();
    const snap = await db().snapshot.create({
      data: {
        vmId: vm!.id,
        hostId: host.id,
        mode: "live",
        status: "completed",
        progress: 1,
        sizeBytes: 4096n,
        ramTotalBytes: 4096n,
        guestPauseMs: 12.5,
        files: [{ path: `/tmp/snaps/${vm!.id}/vmstate.bin`, role: "vmstate", sizeBytes: 4096 }],
        createdAt: new Date(now - 60_000),
        startedAt: new Date(now - 59_000),
        finishedAt: new Date(now - 50_000),
      },
    });
    await expectConforms("GET /api/hosts", await hostsRoute(), 200);
    await expectConforms("GET /api/hosts/[id]", await hostRoute(get(`/api/hosts/${host.id}`), ctx(host.id)), 200);
    const list = await vmsRoute(get("/api/vms?state=running&sort=name"));
    expect((await list.clone().json()).total).toBe(2);
    await expectConforms("GET /api/vms", list, 200);
    await expectConforms("GET /api/vms/[id]", await vmRoute(get(`/api/vms/${vm!.id}`), ctx(vm!.id)), 200);
    const history = await snapshotsRoute(get("/api/snapshots?status=completed"));
    expect((await history.clone().json()).snapshots.map((s: { id: string }) => s.id)).toEqual([snap.id]);
    await expectConforms("GET /api/snapshots", history, 200);
    await expectConforms(
      "GET /api/vms/[id]/snapshots",
      await vmSnapshotsRoute(get(`/api/vms/${vm!.id}/snapshots`), ctx(vm!.id)),
      200,
    );
    await expectConforms(
      "GET /api/snapshots/[id]",
      await snapshotRoute(get(`/api/snapshots/${snap.id}`), ctx(snap.id)),
      200,
    );
    await expectConforms(
      "GET /api/snapshots/[id]/restore",
      await rollbackPlanRoute(get(`/api/snapshots/${snap.id}/restore`), ctx(snap.id)),
      200,
    );
    await expectConforms(
      "GET /api/snapshots/[id]/verify",
      await verificationRoute(get(`/api/snapshots/${snap.id}/verify`), ctx(snap.id)),
      200,
    );
    await expectConforms(
      "GET /api/vms/[id]/restores",
      await vmRestoresRoute(get(`/api/vms/${vm!.id}/restores`), ctx(vm!.id)),
      200,
    );
  });

  test("schedules: create, list, one, change, run now, previews, calendar", async () => {
    const host = await seedHost("beta");
    await seedVms(host.id, ["db-1"]);
    const created = await scheduleCreateRoute(
      post("/api/schedules", {
        name: "nightly",
        cron: "30 2 * * *",
        timezone: "Europe/Berlin",
        targets: { hostId: host.id },
        retention: { keepLast: 3 },
      }),
    );
    const { schedule } = await created.clone().json();
    await expectConforms("POST /api/schedules", created, 201);
    await expectConforms("GET /api/schedules", await schedulesRoute(), 200);
    await expectConforms(
      "PATCH /api/schedules/[id]",
      await scheduleUpdateRoute(
        new Request("http://localhost/x", { method: "PATCH", body: JSON.stringify({ staggerSeconds: 5 }) }),
        ctx(schedule.id),
      ),
      200,
    );
    await expectConforms(
      "POST /api/schedules/[id]/run",
      await scheduleRunRoute(post(`/api/schedules/${schedule.id}/run`, {}), ctx(schedule.id)),
      202,
    );
    await expectConforms(
      "GET /api/schedules/[id]",
      await scheduleRoute(get(`/api/schedules/${schedule.id}`), ctx(schedule.id)),
      200,
    );
    await expectConforms(
      "GET /api/schedules/[id]/preview-retention",
      await scheduleRetentionRoute(
        get(`/api/schedules/${schedule.id}/preview-retention?keepDaily=2`),
        ctx(schedule.id),
      ),
      200,
    );
    await expectConforms(
      "GET /api/schedules/preview",
      await cronPreviewRoute(get("/api/schedules/preview?cron=0%20*%20*%20*%20*&count=3")),
      200,
    );
    await expectConforms(
      "GET /api/schedules/calendar",
      await calendarRoute(get("/api/schedules/calendar?hours=48")),
      200,
    );
  });

  test("a refused input answers 400 with the documented error body", async () => {
    const res = await vmsRoute(get("/api/vms?limit=0"));
    expect(res.status).toBe(400);
    const body = await res.json();
    expect(body.error).toMatch(/limit must be ≥ 1/);
  });
});
