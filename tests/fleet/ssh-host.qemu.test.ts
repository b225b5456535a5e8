// An SSH host end to end: Debian's sshd on a loopback port (started and stopped here) in front of a
// real QEMU VM. Discovery reaches the monitor through stream-local forwarding on the host's one SSH
// connection, snapshot files are handled over SFTP, the host key is pinned on add, and a changed host
// key is refused — until the operator re-pins it.
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { discoverHost } from "../../lib/fleet/discovery";
import { VmUnreachableError } from "../../lib/fleet/errors";
import { hostFilesFor } from "../../lib/fleet/host-files";
import { createHost, updateHost } from "../../lib/fleet/hosts";
import { closeAllVmSessions, getVmSession } from "../../lib/fleet/sessions";
import { closeAllSshConnections } from "../../lib/fleet/ssh";
import { InvalidInputError } from "../../lib/errors";
import { connectQmp } from "../../lib/qmp";
import { useTestDatabase } from "../support/db";
import { disposeAllVms } from "../support/qemu";
import { startSshd, type TestSshd } from "./sshd";
import { harnessDisk, makeSocketDir, startFleetVm, type FleetVm, type SocketDir } from "./support";

const database = useTestDatabase();
let sshd: TestSshd;
let sockets: SocketDir;
let vm: FleetVm;
let hostId: string;
let fingerprint: string;

beforeAll(async () => {
  sockets = await makeSocketDir("sf-ssh-");
  [sshd, vm] = await Promise.all([startSshd(), startFleetVm(sockets.dir, "remote-vm", { disks: [{ sizeMiB: 8 }] })]);
  fingerprint = await sshd.hostKeySha256();
});

afterAll(async () => {
  await closeAllVmSessions();
  await closeAllSshConnections();
  await sshd?.stop();
  await disposeAllVms();
  await sockets?.cleanup();
});

const sshBody = () => ({
  kind: "ssh" as const,
  name: "hv-ssh",
  address: "127.0.0.1",
  port: sshd.port,
  user: "root",
  privateKeyPath: sshd.userKeyPath,
  socketDir: sockets.dir,
  snapshotDir: sockets.snapshotDir,
  hostKeySha256: fingerprint,
});

/** The message an InvalidInputError carries for one form field (zod's treeified shape). */
function fieldError(err: unknown, field: string): string | undefined {
  if (!(err instanceof InvalidInputError)) throw new Error(`expected an InvalidInputError, got ${String(err)}`);
  return (err.details as { properties: Record<string, { errors: string[] }> }).properties[field]?.errors[0];
}

describe("SSH host", () => {
  test("a key that is no key, or one the host does not accept, is refused on the key field", async () => {
    const garbage = path.join(sshd.dir, "not-a-key");
    await writeFile(garbage, "hello\n");
    const bad = await createHost({ ...sshBody(), privateKeyPath: garbage }).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(InvalidInputError);
    expect(fieldError(bad, "privateKeyPath")).toMatch(/is not a usable private key/);

    const { execFile } = await import("node:child_process");
    const stranger = path.join(sshd.dir, "stranger");
    await new Promise((resolve, reject) =>
      execFile("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", stranger], (e) => (e ? reject(e) : resolve(null))),
    );
    const refused = await createHost({ ...sshBody(), privateKeyPath: stranger }).catch((e: unknown) => e);
    expect(fieldError(refused, "privateKeyPath")).toMatch(/refused the key/);

    const closed = await createHost({ ...sshBody(), port: 1 }).catch((e: unknown) => e);
    expect(fieldError(closed, "address")).toMatch(/cannot connect to 127\.0\.0\.1:1: ECONNREFUSED/);

    const missing = path.join(sockets.dir, "nonexistent");
    const noDir = await createHost({ ...sshBody(), socketDir: `${missing}/qmp`, snapshotDir: `${missing}/snap` }).catch(
      (e: unknown) => e,
    );
    expect(fieldError(noDir, "socketDir")).toBe(`socket directory ${missing}/qmp does not exist`);
    expect(fieldError(noDir, "snapshotDir")).toBe(`directory ${missing}/snap does not exist on hv-ssh`);

    // No fingerprint: the host is only asked for its key, and the add waits for the operator to confirm it.
    const { hostKeySha256: _omitted, ...unconfirmed } = sshBody();
    const confirm = await createHost(unconfirmed).catch((e: unknown) => e);
    expect(fieldError(confirm, "hostKeySha256")).toContain(`presents ${fingerprint}`);
    const wrong = await createHost({ ...sshBody(), hostKeySha256: `SHA256:${"A".repeat(43)}` }).catch(
      (e: unknown) => e,
    );
    expect(fieldError(wrong, "address")).toContain(`server presented ${fingerprint}`);
    expect(await database.current.prisma.host.count()).toBe(0);
  });

  test("adding the host pins its key and discovers the VM through stream-local forwarding", async () => {
    const saved = await createHost(sshBody());
    hostId = saved.host.id;
    expect(saved.host.hostKeySha256).toBe(await sshd.hostKeySha256());
    // The save waits for its discovery for a bounded time only (10 s): on a loaded host the discovery it
    // started is still running then, and answers when joined (discoverHost shares a run in flight).
    const discovery = saved.discovery ?? (await discoverHost(hostId));
    expect(discovery).toMatchObject({ ok: true, found: 1, added: 1, unreachable: 0 });
    const row = await database.current.prisma.vm.findFirstOrThrow({ where: { hostId } });
    expect(row).toMatchObject({
      name: "remote-vm",
      state: "running",
      endpoint: vm.fleetSocket,
      bgSnapshotSupported: true,
    });
    expect(row.disks).toEqual([harnessDisk(vm, 0, 8)]);

    // Live state over SSH: a pause from outside reaches the row through the forwarded session.
    const session = await getVmSession(row.id);
    expect(session.endpoint.kind).toBe("ssh");
    const outside = await connectQmp({ kind: "unix", path: vm.qmpSocket });
    const stopSeen = session.waitForEvent("STOP", { timeoutMs: 5_000 });
    await outside.stop();
    await stopSeen;
    await expect
      .poll(async () => (await database.current.prisma.vm.findUniqueOrThrow({ where: { id: row.id } })).state)
      .toBe("paused");
    await outside.cont();
    await outside.close();
    await expect
      .poll(async () => (await database.current.prisma.vm.findUniqueOrThrow({ where: { id: row.id } })).state)
      .toBe("running");
  });

  test("snapshot files are written, measured, read and removed over SFTP", async () => {
    const host = await database.current.prisma.host.findUniqueOrThrow({ where: { id: hostId } });
    const files = hostFilesFor(host);
    expect(files.kind).toBe("ssh");
    await files.assertWritableDir(sockets.snapshotDir);
    await expect(files.assertWritableDir(path.join(sockets.snapshotDir, "missing"))).rejects.toThrow(
      /does not exist on hv-ssh/,
    );
    await expect(files.assertWritableDir(vm.disks[0]!.path)).rejects.toThrow(/is not a directory/);
    expect(await files.freeBytes(sockets.snapshotDir)).toBeGreaterThan(1024 * 1024);

    const file = path.join(sockets.snapshotDir, "vm1", "ram.mig");
    await expect(files.createWriteStream(file)).rejects.toThrow(/cannot create/); // parent directory missing
    const flat = path.join(sockets.snapshotDir, "ram.mig");
    const out = await files.createWriteStream(flat);
    const payload = Buffer.concat([Buffer.from("QEVM"), Buffer.alloc(100_000, 7), Buffer.from("tail")]);
    await new Promise<void>((resolve, reject) => {
      out.on("error", reject);
      out.end(payload, () => resolve());
    });
    await expect.poll(async () => (await files.stat(flat))?.size).toBe(payload.length);
    expect(await files.stat(flat)).toEqual({ isDirectory: false, size: payload.length });
    expect((await files.readRange(flat, 0, 4)).toString()).toBe("QEVM");
    expect((await files.readRange(flat, payload.length - 4, 100)).toString()).toBe("tail");
    expect(await files.listSockets(sockets.dir)).toEqual([vm.fleetSocket]);
    await files.remove(flat);
    await files.remove(flat);
    expect(await files.stat(flat)).toBeNull();
    await expect(files.remove("/tmp")).rejects.toThrow(/refusing to remove/);
  });

  test("a changed host key is refused with both fingerprints, until the operator re-pins it", async () => {
    const pinned = await sshd.hostKeySha256();
    await closeAllVmSessions();
    await closeAllSshConnections();
    await sshd.rotateHostKey();
    const presented = await sshd.hostKeySha256();
    expect(presented).not.toBe(pinned);

    const result = await discoverHost(hostId);
    expect(result.ok).toBe(false);
    expect(result.error).toContain(`pinned ${pinned}, server presented ${presented}`);
    const vmRow = await database.current.prisma.vm.findFirstOrThrow({ where: { hostId } });
    expect(vmRow.state).toBe("unreachable");
    await expect(getVmSession(vmRow.id)).rejects.toThrow(VmUnreachableError);
    await expect(getVmSession(vmRow.id)).rejects.toThrow(/host key of 127\.0\.0\.1:\d+ changed/);

    const edit = await updateHost(hostId, { name: "hv-ssh-renamed" }).catch((e: unknown) => e);
    expect(fieldError(edit, "address")).toContain(`server presented ${presented}`);
    expect((await database.current.prisma.host.findUniqueOrThrow({ where: { id: hostId } })).hostKeySha256).toBe(
      pinned,
    );

    // Re-pinning needs the new fingerprint too, confirmed like an add.
    const blind = await updateHost(hostId, { repinHostKey: true }).catch((e: unknown) => e);
    expect(fieldError(blind, "hostKeySha256")).toContain(`presents ${presented}`);
    const repinned = await updateHost(hostId, { repinHostKey: true, hostKeySha256: presented });
    expect(repinned.host.hostKeySha256).toBe(presented);
    expect(repinned.discovery ?? (await discoverHost(hostId))).toMatchObject({ ok: true, found: 1 });
    expect((await database.current.prisma.vm.findUniqueOrThrow({ where: { id: vmRow.id } })).state).toBe("running");
  });
});
