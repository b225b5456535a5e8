// The SSH transport against a real QEMU: an in-process ssh2 server (publickey auth, known host key)
// forwards direct-streamlocal@openssh.com channels to the VM's QMP unix socket, as sshd does with
// `AllowStreamLocalForwarding yes`. Same client, same errors as the local transports.
import { createHash } from "node:crypto";
import net from "node:net";
import ssh2, { type Connection, type Server } from "ssh2";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  QmpConnectError,
  QmpEndpointError,
  QmpMonitorBusyError,
  connectQmp,
  sshFingerprint,
  type QmpSshEndpoint,
} from "../../lib/qmp";
import { disposeAllVms, startVm, type TestVm } from "../support/qemu";
import { ed25519KeyPair } from "../support/ssh-keys";

const { Server: SshServer, utils } = ssh2;

let vm: TestVm;
let server: Server;
let port: number;
let hostFingerprint: string;
const clientKeys = ed25519KeyPair();
const serverConnections = new Set<Connection>();
const closedServerConnections: Promise<void>[] = [];

beforeAll(async () => {
  vm = await startVm({ name: "qmp-ssh", memoryMiB: 64, disks: 0 });
  const hostKeys = ed25519KeyPair();
  const hostPub = utils.parseKey(hostKeys.public);
  const clientPub = utils.parseKey(clientKeys.public);
  if (hostPub instanceof Error || clientPub instanceof Error) throw new Error("key parse failed");
  hostFingerprint = sshFingerprint(hostPub.getPublicSSH());
  server = new SshServer({ hostKeys: [hostKeys.private] }, (conn) => {
    serverConnections.add(conn);
    closedServerConnections.push(new Promise((resolve) => conn.on("close", () => resolve())));
    conn.on("close", () => serverConnections.delete(conn));
    conn.on("error", () => {});
    conn.on("authentication", (ctx) => {
      const ok =
        ctx.method === "publickey" &&
        ctx.username === "qmp" &&
        ctx.key.algo === clientPub.type &&
        ctx.key.data.equals(clientPub.getPublicSSH()) &&
        (!ctx.signature || clientPub.verify(ctx.blob!, ctx.signature, ctx.hashAlgo) === true);
      if (ok) ctx.accept();
      else ctx.reject(["publickey"]);
    });
    conn.on("openssh.streamlocal", (accept, reject, info) => {
      const sock = net.createConnection(info.socketPath);
      sock.once("error", () => reject());
      sock.once("connect", () => {
        const channel = accept();
        channel.on("error", () => {});
        sock.on("error", () => channel.destroy());
        channel.pipe(sock).pipe(channel);
        channel.on("close", () => sock.destroy());
        sock.on("close", () => channel.close());
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  port = (server.address() as net.AddressInfo).port;
});

afterEach(async () => {
  // Every SSH connection the transport opened must have been ended by it.
  await Promise.all(closedServerConnections.splice(0));
  expect(serverConnections.size).toBe(0);
});

afterAll(async () => {
  await new Promise<void>((resolve) => server?.close(() => resolve()));
  await disposeAllVms();
});

function endpoint(extra: Partial<QmpSshEndpoint> = {}): QmpSshEndpoint {
  return {
    kind: "ssh",
    host: "127.0.0.1",
    port,
    username: "qmp",
    socketPath: vm.qmpSocket,
    privateKey: clientKeys.private,
    hostKeySha256: hostFingerprint,
    ...extra,
  };
}

describe("SSH stream-local transport", () => {
  it("reaches the remote QMP socket and runs commands; closing ends the SSH connection it opened", async () => {
    const c = await connectQmp(endpoint());
    try {
      expect(c.label).toBe(`ssh:qmp@127.0.0.1:${port}:${vm.qmpSocket}`);
      expect(c.greeting.version.qemu.major).toBe(7);
      expect(await c.queryName()).toEqual({ name: "qmp-ssh" });
      const stopped = c.waitForEvent("STOP");
      await c.stop();
      await stopped;
      await c.cont();
    } finally {
      await c.close();
    }
  });

  it("reports a busy monitor through SSH as QmpMonitorBusyError", async () => {
    const c = await connectQmp(endpoint());
    try {
      await expect(connectQmp(endpoint(), { greetingTimeoutMs: 500 })).rejects.toBeInstanceOf(QmpMonitorBusyError);
    } finally {
      await c.close();
    }
  });

  it("multiplexes over a shared SSH connection and leaves it open", async () => {
    const shared = new ssh2.Client();
    await new Promise<void>((resolve, reject) => {
      shared.once("ready", () => resolve()).once("error", reject);
      shared.connect({
        host: "127.0.0.1",
        port,
        username: "qmp",
        privateKey: clientKeys.private,
        hostVerifier: () => true,
      });
    });
    try {
      for (let i = 0; i < 2; i++) {
        const c = await connectQmp(endpoint({ sshClient: shared }));
        expect((await c.queryStatus()).running).toBe(true);
        await c.close();
      }
      expect(serverConnections.size).toBe(1); // still the one shared connection
    } finally {
      shared.end();
    }
  });

  it("a host key that does not match → QmpConnectError; none given → QmpEndpointError", async () => {
    const wrong = `SHA256:${createHash("sha256").update("other").digest("base64").replace(/=+$/, "")}`;
    const mismatch = await connectQmp(endpoint({ hostKeySha256: wrong })).catch((e: unknown) => e);
    expect(mismatch).toBeInstanceOf(QmpConnectError);
    expect(mismatch).toMatchObject({ code: "EHOSTKEY" });
    expect((mismatch as Error).message).toContain(hostFingerprint);
    await expect(connectQmp(endpoint({ hostKeySha256: undefined }))).rejects.toBeInstanceOf(QmpEndpointError);
  });

  it("a refused key → QmpConnectError; a missing remote socket → QmpConnectError", async () => {
    const other = ed25519KeyPair();
    const refused = await connectQmp(endpoint({ privateKey: other.private })).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(QmpConnectError);
    expect((refused as Error).message).toMatch(/authentication/i);
    const missing = await connectQmp(endpoint({ socketPath: "/nonexistent/qmp.sock" })).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(QmpConnectError);
    expect((missing as Error).message).toMatch(/stream-local forward/);
  });
});
