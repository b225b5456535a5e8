// The host path policy through POST /api/hosts: sockets, keys and snapshot directories only under the
// configured roots (after realpath), a strict character set, no tmpfs for snapshot directories, no
// group/world-writable snapshot directories — each a 422 on its field, checked before anything is
// opened: a fake QMP socket outside the roots records zero connections.
import { chmod, mkdir, mkdtemp, rm, symlink } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { POST as postHost } from "../../app/api/hosts/route";
import { closeAllVmSessions } from "../../lib/fleet/sessions";
import { useTestDatabase } from "../support/db";

const database = useTestDatabase();
let root: string;
let outside: string;
let fake: Server;
let connections = 0;

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), "sf-roots-"));
  outside = await mkdtemp(path.join(os.tmpdir(), "sf-outside-"));
  await mkdir(path.join(root, "sockets"));
  await mkdir(path.join(root, "snapshots"), { mode: 0o750 });
  await mkdir(path.join(root, "open"));
  await chmod(path.join(root, "open"), 0o777);
  await symlink(outside, path.join(root, "escape"));
  process.env.SNAPFLEET_HOST_ROOTS = root;
  // A QMP-looking socket outside the roots: the policy must refuse before anything connects to it.
  fake = createServer((s) => {
    connections++;
    s.end('{"QMP": {"version": {"qemu": {"major": 9, "minor": 0, "micro": 0}}, "capabilities": []}}\n');
  });
  await new Promise<void>((r) => fake.listen(path.join(outside, "vm.sock"), r));
});

afterAll(async () => {
  await closeAllVmSessions();
  await new Promise((r) => fake.close(r));
  await rm(root, { recursive: true, force: true });
  await rm(outside, { recursive: true, force: true });
});

async function post(body: Record<string, unknown>) {
  const res = await postHost(new Request("http://test/api/hosts", { method: "POST", body: JSON.stringify(body) }));
  const json = (await res.json()) as {
    error?: string;
    details?: { properties?: Record<string, { errors: string[] }> };
  };
  return { status: res.status, json, field: (f: string) => json.details?.properties?.[f]?.errors[0] };
}

const local = (over: Record<string, unknown>) => ({
  kind: "local",
  name: "policy",
  socketDir: path.join(root, "sockets"),
  snapshotDir: path.join(root, "snapshots"),
  ...over,
});

describe("host path policy", () => {
  test.each([
    ["socketDir", "/run", /outside the allowed roots/],
    ["socketDir", "/etc/shadow", /outside the allowed roots/],
    ["snapshotDir", "/dev/shm", /outside the allowed roots/],
    ["socketDir", "/var/lib/$(id)", /may only contain letters/],
    ["snapshotDir", "/tmp/a b", /may only contain letters/],
    ["socketDir", "ROOT/../../etc", /\. or \.\. segments/],
    ["socketDir", "ROOT/escape", /resolves to .*outside the allowed roots/],
    ["snapshotDir", "ROOT/open", /group- or world-writable/],
  ])("%s %s → 422", async (field, raw, message) => {
    const value = raw.replace("ROOT", root);
    const { status, field: err } = await post(local({ [field]: value }));
    expect(status).toBe(422);
    expect(err(field)).toMatch(message);
  });

  test("snapshot directories on tmpfs are refused even inside a root", async () => {
    process.env.SNAPFLEET_HOST_ROOTS = `${root},/dev/shm`;
    try {
      const dir = await mkdtemp("/dev/shm/sf-policy-");
      try {
        const { status, field } = await post(local({ snapshotDir: dir }));
        expect(status).toBe(422);
        expect(field("snapshotDir")).toMatch(/is on tmpfs/);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    } finally {
      process.env.SNAPFLEET_HOST_ROOTS = root;
    }
  });

  test("key and certificate files outside the roots are refused (ssh, tls)", async () => {
    const ssh = await post({
      kind: "ssh",
      name: "p-ssh",
      address: "127.0.0.1",
      user: "root",
      privateKeyPath: "/root/.ssh/id_ed25519",
      socketDir: path.join(root, "sockets"),
      snapshotDir: "/srv/snap",
    });
    expect(ssh.status).toBe(422);
    expect(ssh.field("privateKeyPath")).toMatch(/outside the allowed roots/);
    expect(ssh.field("snapshotDir")).toMatch(/outside the allowed roots/);
    const tls = await post({
      kind: "tls",
      name: "p-tls",
      tlsEndpoints: [{ host: "127.0.0.1", port: 4444 }],
      tlsCaPath: "/etc/ssl/certs/ca-certificates.crt",
      tlsCertPath: path.join(root, "c.pem"),
      tlsKeyPath: "/etc/shadow",
      snapshotDir: path.join(root, "snapshots"),
    });
    expect(tls.status).toBe(422);
    expect(tls.field("tlsCaPath")).toMatch(/outside the allowed roots/);
    expect(tls.field("tlsKeyPath")).toMatch(/outside the allowed roots/);
  });

  test("a fake socket outside the roots records zero connections; inside the roots the host is added", async () => {
    const refused = await post(local({ socketDir: outside }));
    expect(refused.status).toBe(422);
    expect(connections).toBe(0);
    expect(await database.current.prisma.host.count()).toBe(0);
    const ok = await post(local({}));
    expect(ok.status).toBe(201);
    expect(connections).toBe(0);
  });
});
