// The hosts and VMs REST API through the real route handlers: malformed bodies are 400s naming the
// field, bodies the host itself refutes are 422s with per-field details, unknown ids are 404s, and a
// valid host goes through add → read → edit → remove.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { DELETE as deleteHost, GET as getHost, PATCH as patchHost } from "../../app/api/hosts/[id]/route";
import { POST as discover } from "../../app/api/hosts/[id]/discover/route";
import { GET as listHosts, POST as postHost } from "../../app/api/hosts/route";
import { GET as getVm } from "../../app/api/vms/[id]/route";
import { GET as listVms } from "../../app/api/vms/route";
import { closeAllVmSessions } from "../../lib/fleet/sessions";
import { useTestDatabase } from "../support/db";

useTestDatabase();
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "sf-api-"));
  // Host paths must lie under the configured roots (lib/fleet/host-paths.ts): this test's are in `dir`.
  process.env.SNAPFLEET_HOST_ROOTS = dir;
  await writeFile(path.join(dir, "a-file"), "x");
});
afterAll(async () => {
  await closeAllVmSessions();
  await rm(dir, { recursive: true, force: true });
});

const post = (body: unknown) =>
  postHost(
    new Request("http://test/api/hosts", {
      method: "POST",
      body: typeof body === "string" ? body : JSON.stringify(body),
    }),
  );
const ctx = (id: string) => ({ params: Promise.resolve({ id }) });

async function answer(res: Response | Promise<Response>): Promise<{
  status: number;
  body: { error?: string; details?: { properties?: Record<string, { errors: string[] }> } } & Record<string, unknown>;
}> {
  const r = await res;
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : {} };
}

describe("POST /api/hosts validation", () => {
  test("a body that is not JSON", async () => {
    expect(await answer(post("{nope"))).toEqual({ status: 400, body: { error: "request body must be JSON" } });
  });

  test("no kind, or an unknown one", async () => {
    const { status, body } = await answer(post({ name: "x" }));
    expect(status).toBe(400);
    expect(body.error).toContain('kind must be "local", "ssh" or "tls"');
    expect((await answer(post({ kind: "vmware", name: "x" }))).status).toBe(400);
  });

  test("field errors name each field", async () => {
    const { status, body } = await answer(post({ kind: "local", name: "", socketDir: "run/qmp", snapshotDir: "/ok" }));
    expect(status).toBe(400);
    expect(body.details?.properties?.name?.errors).toEqual(["name is required"]);
    expect(body.details?.properties?.socketDir?.errors).toEqual([
      "socket directory must be an absolute path (starting with /)",
    ]);
    expect(body.error).toContain("socketDir: socket directory must be an absolute path");
  });

  test("SSH fields: port range, user, address, missing key path", async () => {
    const { status, body } = await answer(
      post({
        kind: "ssh",
        name: "hv",
        address: "not a host!",
        port: 70000,
        user: "ro ot",
        socketDir: "/run/qmp",
        snapshotDir: "/snap",
      }),
    );
    expect(status).toBe(400);
    expect(body.details?.properties?.port?.errors).toEqual(["port must be between 1 and 65535"]);
    expect(body.details?.properties?.address?.errors).toEqual(["address must be a hostname or an IP address"]);
    expect(body.details?.properties?.user?.errors).toEqual(["user must be a valid login name"]);
    expect(body.details?.properties?.privateKeyPath?.errors).toEqual(["private key path is required"]);
  });

  test("unknown fields are refused rather than ignored", async () => {
    const { status, body } = await answer(
      post({ kind: "local", name: "hv", socketDir: dir, snapshotDir: dir, password: "x" }),
    );
    expect(status).toBe(400);
    expect(body.error).toMatch(/password/);
  });

  test("a socket directory that does not exist and a snapshot directory that is a file: 422 on both fields", async () => {
    const { status, body } = await answer(
      post({ kind: "local", name: "hv", socketDir: path.join(dir, "nope"), snapshotDir: path.join(dir, "a-file") }),
    );
    expect(status).toBe(422);
    expect(body.details?.properties?.socketDir?.errors).toEqual([
      `socket directory ${path.join(dir, "nope")} does not exist`,
    ]);
    expect(body.details?.properties?.snapshotDir?.errors).toEqual([`${path.join(dir, "a-file")} is not a directory`]);
  });

  test("TLS credentials that are missing or not PEM", async () => {
    const { status, body } = await answer(
      post({
        kind: "tls",
        name: "tls-hv",
        tlsEndpoints: [{ host: "127.0.0.1", port: 4445 }],
        tlsCaPath: path.join(dir, "ca.pem"),
        tlsCertPath: path.join(dir, "a-file"),
        tlsKeyPath: path.join(dir, "a-file"),
        snapshotDir: dir,
      }),
    );
    expect(status).toBe(422);
    expect(body.details?.properties?.tlsCaPath?.errors).toEqual([
      `cannot read CA certificate ${path.join(dir, "ca.pem")}: no such file`,
    ]);
    expect(body.details?.properties?.tlsCertPath?.errors).toEqual([
      `${path.join(dir, "a-file")} is not a PEM certificate`,
    ]);
  });
});

describe("hosts lifecycle and VM reads", () => {
  test("add, read, edit, rediscover, remove; unknown ids are 404", async () => {
    const created = await answer(post({ kind: "local", name: "api-hv", socketDir: dir, snapshotDir: dir }));
    expect(created.status).toBe(201);
    const host = created.body.host as { id: string; name: string; healthy: boolean };
    expect(host).toMatchObject({ name: "api-hv", healthy: true });
    expect(created.body.discovery).toMatchObject({ ok: true, found: 0 });

    const dup = await answer(post({ kind: "local", name: "API-HV", socketDir: dir, snapshotDir: dir }));
    expect(dup.status).toBe(422);
    expect(dup.body.details?.properties?.name?.errors).toEqual(['a host named "api-hv" already exists']);

    const listed = await answer(listHosts());
    expect((listed.body.hosts as Array<{ id: string }>).map((h) => h.id)).toEqual([host.id]);
    expect((await answer(getHost(new Request("http://test"), ctx(host.id)))).body).toMatchObject({
      id: host.id,
      kind: "local",
    });
    expect((await answer(getHost(new Request("http://test"), ctx("not-a-uuid")))).status).toBe(404);
    expect(
      (await answer(getHost(new Request("http://test"), ctx("00000000-0000-4000-8000-000000000000")))).status,
    ).toBe(404);

    const patch = (body: unknown) =>
      answer(patchHost(new Request("http://test", { method: "PATCH", body: JSON.stringify(body) }), ctx(host.id)));
    const foreign = await patch({ address: "10.0.0.1" });
    expect(foreign.status).toBe(422);
    expect(foreign.body.details?.properties?.address?.errors).toEqual(["a local host has no address"]);
    expect((await patch({ socketDir: 42 })).status).toBe(400);
    const badDir = await patch({ snapshotDir: path.join(dir, "missing") });
    expect(badDir.status).toBe(422);
    expect(badDir.body.details?.properties?.snapshotDir?.errors).toEqual([
      `directory ${path.join(dir, "missing")} does not exist`,
    ]);
    const renamed = await patch({ name: "api-hv-2" });
    expect(renamed.status).toBe(200);
    expect((renamed.body.host as { name: string }).name).toBe("api-hv-2");

    const run = await answer(discover(new Request("http://test", { method: "POST" }), ctx(host.id)));
    expect(run).toMatchObject({ status: 200, body: { ok: true, found: 0 } });

    expect((await answer(listVms(new Request(`http://test/api/vms?hostId=${host.id}`)))).body).toMatchObject({
      total: 0,
      vms: [],
    });
    const badQuery = await answer(listVms(new Request("http://test/api/vms?state=sleeping&limit=0")));
    expect(badQuery.status).toBe(400);
    expect(badQuery.body.error).toMatch(/state must be one of running, paused, shutdown, unreachable, gone/);
    expect(badQuery.body.error).toMatch(/limit must be ≥ 1/);
    expect((await answer(getVm(new Request("http://test"), ctx("00000000-0000-4000-8000-000000000000")))).status).toBe(
      404,
    );

    expect((await deleteHost(new Request("http://test", { method: "DELETE" }), ctx(host.id))).status).toBe(204);
    expect((await answer(getHost(new Request("http://test"), ctx(host.id)))).status).toBe(404);
  });
});
