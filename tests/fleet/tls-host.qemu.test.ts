// A QMP-over-TLS host: a list of endpoints where QEMU serves QMP on TCP with client-certificate TLS
// (verify-peer + tls-authz). Discovery reaches each with the host's CA and client certificate; an
// endpoint that does not answer is listed as unreachable with the reason; live state flows as for
// unix sockets.
import path from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { createHost } from "../../lib/fleet/hosts";
import { closeAllVmSessions, getVmSession } from "../../lib/fleet/sessions";
import { connectQmp } from "../../lib/qmp";
import { makeTestPki, startTlsVm, type TestPki } from "../qmp/tls-certs";
import { useTestDatabase } from "../support/db";
import { disposeAllVms, type TestVm } from "../support/qemu";
import { makeSocketDir, type SocketDir } from "./support";

const database = useTestDatabase();
let pki: TestPki;
let vm: TestVm;
let dirs: SocketDir;

beforeAll(async () => {
  pki = makeTestPki();
  dirs = await makeSocketDir("sf-tls-");
  vm = await startTlsVm(pki, "tls-vm", 128);
});

afterAll(async () => {
  await closeAllVmSessions();
  await disposeAllVms();
  await dirs?.cleanup();
  pki?.cleanup();
});

test("discovers TLS endpoints with the client certificate; a dead endpoint is unreachable with the reason", async () => {
  const saved = await createHost({
    kind: "tls",
    name: "tls-hv",
    tlsEndpoints: [
      { host: "127.0.0.1", port: vm.tlsPort!, name: "from-list" },
      { host: "127.0.0.1", port: 1, name: "dead" },
    ],
    tlsCaPath: path.join(pki.dir, "ca-cert.pem"),
    tlsCertPath: path.join(pki.dir, "client-cert.pem"),
    tlsKeyPath: path.join(pki.dir, "client-key.pem"),
    snapshotDir: dirs.snapshotDir,
  });
  expect(saved.discovery).toMatchObject({ ok: true, found: 2, added: 2, unreachable: 1 });
  const rows = await database.current.prisma.vm.findMany({
    where: { hostId: saved.host.id },
    orderBy: { endpoint: "asc" },
  });
  const [dead, live] = rows;
  expect(live).toMatchObject({
    name: "tls-vm",
    endpoint: `127.0.0.1:${vm.tlsPort}`,
    state: "running",
    qemuVersion: expect.stringMatching(/^\d+\./),
  });
  expect(dead).toMatchObject({ name: "dead", endpoint: "127.0.0.1:1", state: "unreachable" });
  expect(dead!.stateReason).toMatch(/unreachable: .*(refused|ECONNREFUSED)/i);

  const session = await getVmSession(live!.id);
  expect(session.endpoint.kind).toBe("tls");
  const outside = await connectQmp({ kind: "unix", path: vm.qmpSocket });
  await outside.stop();
  await expect
    .poll(async () => (await database.current.prisma.vm.findUniqueOrThrow({ where: { id: live!.id } })).state)
    .toBe("paused");
  await outside.cont();
  await outside.close();
  await expect
    .poll(async () => (await database.current.prisma.vm.findUniqueOrThrow({ where: { id: live!.id } })).state)
    .toBe("running");
});
