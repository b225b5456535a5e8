// The gate on a real listening server (lib/server/gated-server.ts, as server.ts wires it) with the real
// auth routes and the real realtime hub over a test database; Next.js is replaced by a small handler
// that dispatches the auth routes and answers every other allowed request with who asked.
// Proves: login (cookie flags, wrong password, rate limit), sessions and bearer tokens, 401/403,
// CSRF (text/plain, foreign Origin), foreign Host, a 10 MiB body → 413 without reading it, the /ws
// upgrade (anonymous, foreign Origin, per-topic rules, caps), the first-run set-up link (single use,
// expiry), and an audit row for every state-changing request — without secrets.
import { request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { brotliCompressSync, gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import WebSocket from "ws";
import * as loginRoute from "../../app/api/auth/login/route";
import * as logoutRoute from "../../app/api/auth/logout/route";
import * as meRoute from "../../app/api/auth/me/route";
import * as setupRoute from "../../app/api/auth/setup/route";
import * as tokensRoute from "../../app/api/tokens/route";
import { IDENTITY_HEADER } from "../../lib/auth/roles";
import { createApiToken, createSetupToken, createUser, revokeApiToken } from "../../lib/auth/store";
import { createLogger } from "../../lib/logger";
import { RealtimeHub } from "../../lib/realtime/hub";
import { useTestDatabase } from "../support/db";
import { rawRequest, startTestGate, writeResponse, type Answer } from "../support/gate-server";

const database = useTestDatabase();
const log = createLogger(undefined, "silent");
let server: Server;
let hub: RealtimeHub;
let port: number;
let base: string;
const PASSWORDS = { admin: "admin-password-1", operator: "operator-password-1", viewer: "viewer-password-1" };
const VM = "3f2b1c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d";
let socketBytesRead: number[] = [];

const ROUTES: Record<string, Record<string, (req: Request) => Promise<Response>>> = {
  "/api/auth/login": loginRoute as never,
  "/api/auth/logout": logoutRoute as never,
  "/api/auth/me": meRoute as never,
  "/api/auth/setup": setupRoute as never,
  "/api/tokens": tokensRoute as never,
};

/** Next's stand-in: real auth routes; anything else the gate let through answers who asked. */
async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? "/", base);
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const headers = new Headers();
  for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string") headers.set(k, v);
  const routeMod = ROUTES[url.pathname];
  const handler = routeMod?.[req.method ?? "GET"];
  if (handler) {
    const r = await handler(
      new Request(url, { method: req.method, headers, body: chunks.length ? Buffer.concat(chunks) : undefined }),
    );
    await writeResponse(res, r);
    return;
  }
  const status = req.method === "POST" ? 202 : 200;
  res
    .writeHead(status, { "content-type": "application/json" })
    .end(JSON.stringify({ identity: req.headers[IDENTITY_HEADER] ?? null }));
}

const send = (method: string, path: string, opts?: Parameters<typeof rawRequest>[3]) =>
  rawRequest(port, method, path, opts);

const browser = (cookie?: string) => ({
  origin: `http://localhost:${port}`,
  "sec-fetch-site": "same-origin",
  "content-type": "application/json",
  ...(cookie ? { cookie } : {}),
});

async function login(name: string, password: string): Promise<Answer & { cookie: string }> {
  const a = await send("POST", "/api/auth/login", { headers: browser(), body: JSON.stringify({ name, password }) });
  const set = a.headers["set-cookie"]?.[0] ?? "";
  return { ...a, cookie: set.split(";")[0]! };
}

const cookies: Record<string, string> = {};

beforeAll(async () => {
  for (const [role, pw] of Object.entries(PASSWORDS)) await createUser(role, role, pw);
  hub = new RealtimeHub(log, { maxTopicsPerSocket: 3, maxConnectionsPerIdentity: 2 });
  await hub.start(database.current.url);
  ({ server, port } = await startTestGate({
    handle,
    upgradeWs: (req, socket, head, identity) => hub.handleUpgrade(req, socket, head, identity),
    log,
  }));
  server.on("connection", (s) => s.on("close", () => socketBytesRead.push(s.bytesRead)));
  base = `http://localhost:${port}`;
  for (const role of Object.keys(PASSWORDS))
    cookies[role] = (await login(role, PASSWORDS[role as keyof typeof PASSWORDS])).cookie;
});

afterAll(async () => {
  await hub?.close();
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
});

describe("login and sessions", () => {
  test("a login sets an httpOnly, SameSite=Strict session cookie (not Secure over plain HTTP)", async () => {
    const a = await login("viewer", PASSWORDS.viewer);
    expect(a.status).toBe(200);
    const set = a.headers["set-cookie"]![0]!;
    expect(set).toMatch(/^sf_session=sfs_[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=\d+$/);
    const me = await send("GET", "/api/auth/me", { headers: { cookie: a.cookie } });
    expect(JSON.parse(me.body)).toEqual({ name: "viewer", role: "viewer", kind: "user" });
    // Logout ends the session server-side.
    expect((await send("POST", "/api/auth/logout", { headers: browser(a.cookie) })).status).toBe(204);
    expect((await send("GET", "/api/auth/me", { headers: { cookie: a.cookie } })).status).toBe(401);
  });

  test("wrong passwords are 401 without saying which part was wrong, then 429 after 5", async () => {
    const answers = [];
    for (let i = 0; i < 6; i++) answers.push((await login("operator", "not-the-password")).status);
    expect(answers).toEqual([401, 401, 401, 401, 401, 429]);
    expect((await login("nobody-here", "x-password-x")).status).toBe(401);
    // The lock holds for the right password too.
    expect((await login("operator", PASSWORDS.operator)).status).toBe(429);
    await database.current.prisma.loginThrottle.deleteMany();
  });

  test("a client-sent identity header is ignored", async () => {
    const forged = encodeURIComponent(JSON.stringify({ kind: "user", id: "x", name: "mallory", role: "admin" }));
    expect((await send("GET", "/api/hosts", { headers: { [IDENTITY_HEADER]: forged } })).status).toBe(401);
  });
});

describe("the gate on a real server", () => {
  test("anonymous → 401 on the API, pages redirect to /login; /login is open", async () => {
    expect((await send("GET", "/api/vms")).status).toBe(401);
    const page = await send("GET", "/fleet?x=1");
    expect(page.status).toBe(303);
    expect(page.headers.location).toBe("/login?next=%2Ffleet%3Fx%3D1");
    expect((await send("GET", "/login")).status).toBe(200);
  });

  test("viewer → 403 on a snapshot, operator → allowed; both audited with status and target", async () => {
    const path = `/api/vms/${VM}/snapshots`;
    expect((await send("GET", path, { headers: { cookie: cookies.viewer! } })).status).toBe(200);
    expect((await send("POST", path, { headers: browser(cookies.viewer), body: "{}" })).status).toBe(403);
    expect((await send("POST", path, { headers: browser(cookies.operator), body: "{}" })).status).toBe(202);
    expect((await send("POST", "/api/hosts", { headers: browser(cookies.operator), body: "{}" })).status).toBe(403);
    expect((await send("POST", "/api/hosts", { headers: browser(cookies.admin), body: "{}" })).status).toBe(202);
    await expect
      .poll(async () =>
        (
          await database.current.prisma.auditEvent.findMany({
            where: { action: { in: ["snapshot.create", "host.create"] } },
          })
        )
          .map((e) => [e.actorName, e.action, e.targetType, e.targetId, e.status, e.ip])
          // Audit rows are written after the response, so two requests in a row may land in either order.
          .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
      )
      .toEqual([
        ["admin", "host.create", null, null, 202, "127.0.0.1"],
        ["operator", "host.create", null, null, 403, "127.0.0.1"],
        ["operator", "snapshot.create", "vm", VM, 202, "127.0.0.1"],
        ["viewer", "snapshot.create", "vm", VM, 403, "127.0.0.1"],
      ]);
  });

  test("CSRF: a text/plain POST and a foreign Origin are refused, and nothing runs", async () => {
    const path = `/api/vms/${VM}/snapshots`;
    const plain = await send("POST", path, {
      headers: { ...browser(cookies.operator), "content-type": "text/plain" },
      body: '{"mode":"live"}',
    });
    expect(plain.status).toBe(415);
    const foreign = await send("POST", path, {
      headers: { ...browser(cookies.operator), origin: "https://evil.example", "sec-fetch-site": "cross-site" },
      body: "{}",
    });
    expect(foreign.status).toBe(403);
    expect(JSON.parse(foreign.body).error).toMatch(/cross-site/);
  });

  test("a foreign Host header is refused (DNS rebinding)", async () => {
    const a = await send("GET", "/api/vms", {
      headers: { host: `rebind.evil.example:${port}`, cookie: cookies.admin! },
    });
    expect(a.status).toBe(400);
    expect(a.body).toMatch(/is not one of this dashboard's names/);
  });

  test("security headers (production)", async () => {
    const a = await send("GET", "/login");
    expect(a.headers["content-security-policy"]).toContain("frame-ancestors 'none'");
    expect(a.headers["x-frame-options"]).toBe("DENY");
    expect(a.headers["x-content-type-options"]).toBe("nosniff");
  });

  test("a 10 MiB body is answered 413 from its Content-Length, before it is sent, and never read", async () => {
    socketBytesRead = [];
    const before = process.memoryUsage().rss;
    const answer = await new Promise<{ status: number; bodySentBefore: number }>((resolve, reject) => {
      let sent = 0;
      const r = httpRequest(
        {
          host: "127.0.0.1",
          port,
          method: "POST",
          path: `/api/vms/${VM}/snapshots`,
          headers: {
            ...browser(cookies.operator),
            host: `localhost:${port}`,
            "content-length": String(10 * 1024 * 1024),
          },
        },
        (res) => {
          res.resume();
          resolve({ status: res.statusCode!, bodySentBefore: sent });
          r.destroy();
        },
      );
      r.on("error", (e) => (sent ? undefined : reject(e)));
      r.flushHeaders();
      // Only then start sending the body, slowly; the answer arrives first.
      const chunk = Buffer.alloc(64 * 1024, 0x61);
      const pump = () => {
        if (r.destroyed || sent >= 10 * 1024 * 1024) return;
        sent += chunk.length;
        r.write(chunk, () => setTimeout(pump, 5));
      };
      setTimeout(pump, 200);
    });
    expect(answer.status).toBe(413);
    expect(answer.bodySentBefore).toBe(0);
    await expect.poll(() => socketBytesRead.length).toBeGreaterThan(0);
    expect(Math.max(...socketBytesRead)).toBeLessThan(256 * 1024);
    expect(process.memoryUsage().rss - before).toBeLessThan(64 * 1024 * 1024);
  });

  test("a 10 MiB body sent at once is refused too, and the connection is closed", async () => {
    socketBytesRead = [];
    const big = Buffer.alloc(10 * 1024 * 1024, 0x7b);
    const status = await new Promise<number>((resolve) => {
      const r = httpRequest(
        {
          host: "127.0.0.1",
          port,
          method: "POST",
          path: "/api/schedules",
          headers: { ...browser(cookies.operator), host: `localhost:${port}` },
        },
        (res) => {
          res.resume();
          resolve(res.statusCode!);
        },
      );
      r.on("error", () => resolve(-1));
      r.end(big);
    });
    expect([413, -1]).toContain(status);
    await expect.poll(() => socketBytesRead.length).toBeGreaterThan(0);
    expect(Math.max(...socketBytesRead)).toBeLessThan(8 * 1024 * 1024);
  });
});

describe("API tokens", () => {
  test("created by an admin, shown once, used as Bearer without Origin; revoked → 401", async () => {
    const created = await send("POST", "/api/tokens", {
      headers: browser(cookies.admin),
      body: JSON.stringify({ name: "ci", role: "operator", expiresIn: "30d" }),
    });
    expect(created.status).toBe(201);
    const { token, info } = JSON.parse(created.body) as { token: string; info: { id: string; expiresAt: string } };
    expect(token).toMatch(/^sft_/);
    const row = await database.current.prisma.apiToken.findUniqueOrThrow({ where: { id: info.id } });
    expect(row.tokenHash).not.toContain(token);
    const listed = await send("GET", "/api/tokens", { headers: { cookie: cookies.admin! } });
    expect(listed.status).toBe(200);
    const bearer = { authorization: `Bearer ${token}`, "content-type": "application/json" };
    expect((await send("POST", `/api/vms/${VM}/snapshots`, { headers: bearer, body: "{}" })).status).toBe(202);
    expect((await send("POST", "/api/hosts", { headers: bearer, body: "{}" })).status).toBe(403);
    await revokeApiToken(info.id);
    expect((await send("GET", "/api/vms", { headers: bearer })).status).toBe(401);
    const expired = await createApiToken({
      name: "old",
      role: "admin",
      expiresAt: new Date(Date.now() - 1000),
      createdBy: null,
    });
    expect((await send("GET", "/api/vms", { headers: { authorization: `Bearer ${expired.token}` } })).status).toBe(401);
  });
});

describe("the /ws upgrade", () => {
  function connect(headers: Record<string, string>): Promise<{ ws?: WebSocket; status?: number }> {
    return new Promise((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, { headers: { host: `localhost:${port}`, ...headers } });
      ws.once("open", () => resolve({ ws }));
      ws.once("unexpected-response", (_req, res) => resolve({ status: res.statusCode }));
      ws.once("error", () => resolve({ status: -1 }));
    });
  }
  function next(ws: WebSocket): Promise<{ type: string; message?: string; topics?: string[] }> {
    return new Promise((resolve) => ws.once("message", (m) => resolve(JSON.parse(String(m)))));
  }

  test("anonymous → 401, foreign Origin → 403, foreign Host → 400", async () => {
    expect((await connect({ origin: `http://localhost:${port}` })).status).toBe(401);
    expect((await connect({ origin: "https://evil.example", cookie: cookies.viewer! })).status).toBe(403);
    expect((await connect({ cookie: cookies.viewer! })).status).toBe(403);
    expect(
      (await connect({ origin: `http://localhost:${port}`, cookie: cookies.viewer!, host: `evil.example:${port}` }))
        .status,
    ).toBe(400);
  });

  test("a viewer follows topics; unknown topics and more than the cap are refused; connections per user capped", async () => {
    const a = await connect({ origin: `http://localhost:${port}`, cookie: cookies.viewer! });
    expect(a.ws).toBeDefined();
    const ws = a.ws!;
    ws.send(JSON.stringify({ type: "subscribe", topics: ["fleet", `vm:${VM}`] }));
    expect(await next(ws)).toEqual({ type: "subscribed", topics: ["fleet", `vm:${VM}`] });
    ws.send(JSON.stringify({ type: "subscribe", topics: [`snapshot:${VM}`, `vm:${VM.replace("3f", "4f")}`] }));
    expect((await next(ws)).message).toMatch(/at most 3 topics/);
    const b = await connect({ origin: `http://localhost:${port}`, cookie: cookies.viewer! });
    expect(b.ws).toBeDefined();
    expect((await connect({ origin: `http://localhost:${port}`, cookie: cookies.viewer! })).status).toBe(503);
    ws.close();
    b.ws!.close();
  });
});

describe("first-run set-up link", () => {
  test("single use, creates an admin only while none exists", async () => {
    const token = await createSetupToken();
    const check = await send("GET", `/api/auth/setup?token=${token}`);
    // An admin exists in this database: the link is not valid.
    expect(JSON.parse(check.body)).toEqual({ valid: false });
    await database.current.prisma.user.updateMany({ where: { role: "admin" }, data: { role: "operator" } });
    try {
      expect(JSON.parse((await send("GET", `/api/auth/setup?token=${token}`)).body)).toEqual({ valid: true });
      const body = JSON.stringify({ token, name: "first-admin", password: "first-admin-password" });
      const done = await send("POST", "/api/auth/setup", { headers: browser(), body });
      expect(done.status).toBe(200);
      expect(done.headers["set-cookie"]?.[0]).toMatch(/^sf_session=sfs_/);
      expect(
        (
          await send("POST", "/api/auth/setup", {
            headers: browser(),
            body: body.replace('first-admin"', 'second-admin"'),
          })
        ).status,
      ).toBe(401);
      const expired = await createSetupToken(new Date(Date.now() - 2 * 3600_000));
      expect(
        (
          await send("POST", "/api/auth/setup", {
            headers: browser(),
            body: JSON.stringify({ token: expired, name: "late", password: "late-password-123" }),
          })
        ).status,
      ).toBe(401);
    } finally {
      await database.current.prisma.user.updateMany({ where: { name: "admin" }, data: { role: "admin" } });
    }
  });
});

describe("audit rows hold no secrets", () => {
  test("passwords and tokens never reach the audit table", async () => {
    await login("admin", "a-wrong-password-secret");
    const rows = await database.current.prisma.auditEvent.findMany();
    expect(rows.length).toBeGreaterThan(5);
    const text = JSON.stringify(rows, (_k, v) => (typeof v === "bigint" ? String(v) : v));
    for (const s of [...Object.values(PASSWORDS), "a-wrong-password-secret", "sfs_", "sft_", "sfu_"])
      expect(text).not.toContain(s);
    expect(rows.some((r) => r.action === "auth.login" && r.actorName === "admin" && r.status === 401)).toBe(true);
  });
});

describe("an API request that is not answered", () => {
  test("is logged once, with its method and path, when it has no answer after slowRequestMs; an answered one is not", async () => {
    const lines: Array<{ level: number; msg: string; method?: string; path?: string }> = [];
    const capture = createLogger({ write: (l: string) => void lines.push(JSON.parse(l)) }, "info");
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const gate = await startTestGate({
      handle: async (req, res) => {
        if (req.url === "/api/vms") await held;
        res.writeHead(200, { "content-type": "application/json" }).end("{}");
      },
      upgradeWs: () => undefined,
      log: capture,
      slowRequestMs: 100,
    });
    try {
      const asViewer = { headers: { cookie: cookies.viewer! } };
      expect((await rawRequest(gate.port, "GET", "/api/hosts", asViewer)).status).toBe(200);
      const pending = rawRequest(gate.port, "GET", "/api/vms", asViewer);
      const deadline = Date.now() + 5_000;
      while (!lines.some((l) => l.level === 40) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      release();
      expect((await pending).status).toBe(200);
      expect(lines.filter((l) => l.level >= 40)).toEqual([
        expect.objectContaining({
          method: "GET",
          path: "/api/vms",
          msg: "an API request is still unanswered after 100 ms",
        }),
      ]);
    } finally {
      gate.server.closeAllConnections();
      await new Promise((r) => gate.server.close(r));
    }
  });
});

describe("the audit row of a failed request", () => {
  test("carries the answer's error message whether the answer was sent plain, gzip or br, and a NUL in it loses nothing", async () => {
    const message = 'host name "bad\u0000name" is not valid (audit-encoding check)';
    const gate = await startTestGate({
      handle: async (req, res) => {
        const body = JSON.stringify({ error: message });
        const encoding = req.headers["accept-encoding"];
        const data =
          encoding === "gzip" ? gzipSync(body) : encoding === "br" ? brotliCompressSync(body) : Buffer.from(body);
        res
          .writeHead(422, { "content-type": "application/json", ...(encoding ? { "content-encoding": encoding } : {}) })
          .end(data);
      },
      upgradeWs: () => undefined,
      log,
    });
    try {
      const origin = { origin: `http://localhost:${gate.port}` };
      for (const encoding of [undefined, "gzip", "br"]) {
        const headers = { ...browser(cookies.admin), ...origin, ...(encoding ? { "accept-encoding": encoding } : {}) };
        expect((await rawRequest(gate.port, "POST", "/api/hosts", { headers, body: "{}" })).status).toBe(422);
      }
      await expect
        .poll(async () =>
          (
            await database.current.prisma.auditEvent.findMany({
              where: { action: "host.create", status: 422, error: { contains: "audit-encoding check" } },
            })
          ).map((e) => e.error),
        )
        .toEqual(Array(3).fill('host name "bad\\0name" is not valid (audit-encoding check)'));
    } finally {
      gate.server.closeAllConnections();
      await new Promise((r) => gate.server.close(r));
    }
  });
});
