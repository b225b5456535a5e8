// Discovery against real QEMU VMs under a local host: what is read from each monitor, a VM that
// vanishes (gone, history kept) and comes back (revived in place), and a stale socket (unreachable).
import { rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { discoverHost, refreshVm } from "../../lib/fleet/discovery";
import { createHost } from "../../lib/fleet/hosts";
import { closeAllVmSessions, getVmSession } from "../../lib/fleet/sessions";
import { VmUnreachableError } from "../../lib/fleet/errors";
import { blockdevSnapshotSync, connectQmp } from "../../lib/qmp";
import { disposeAllVms } from "../support/qemu";
import { useTestDatabase } from "../support/db";
import { harnessDisk, makeSocketDir, startFleetVm, type FleetVm, type SocketDir } from "./support";

const database = useTestDatabase();
let sockets: SocketDir;
let alpha: FleetVm;
let beta: FleetVm;
let gamma: FleetVm;
let hostId: string;

beforeAll(async () => {
  sockets = await makeSocketDir();
  [alpha, beta, gamma] = await Promise.all([
    startFleetVm(sockets.dir, "alpha", { extraArgs: ["-uuid", "6a1f0c1e-0000-4000-8000-00000000a1fa"] }),
    startFleetVm(sockets.dir, "beta", { memoryMiB: 192, disks: [{ sizeMiB: 32 }, { sizeMiB: 16, readOnly: true }] }),
    // ivshmem in peer mode registers a migration blocker: no background snapshot, and QEMU says why.
    startFleetVm(sockets.dir, "gamma", {
      disks: 0,
      extraArgs: [
        "-object",
        "memory-backend-memfd,id=ivm,size=1M,share=on",
        "-device",
        "ivshmem-plain,memdev=ivm,id=iv0",
      ],
    }),
  ]);
  // Not monitors: a regular file, and a socket-looking name that is not a socket.
  await writeFile(path.join(sockets.dir, "notes.txt"), "not a socket");
  await writeFile(path.join(sockets.dir, "fake.sock"), "");
});

afterAll(async () => {
  await closeAllVmSessions();
  await disposeAllVms();
  await sockets?.cleanup();
});

describe("discovery of a local host", () => {
  test("adding the host discovers every VM with its name, memory, disks and capability", async () => {
    const saved = await createHost({
      kind: "local",
      name: "hv-local",
      socketDir: sockets.dir,
      snapshotDir: sockets.snapshotDir,
    });
    hostId = saved.host.id;
    expect(saved.discovery).toMatchObject({ ok: true, found: 3, added: 3, unreachable: 0, gone: 0 });
    expect(saved.host).toMatchObject({ healthy: true, healthError: null, vmCounts: { running: 3 } });

    const vms = await database.current.prisma.vm.findMany({ where: { hostId }, orderBy: { name: "asc" } });
    expect(vms.map((v) => [v.name, v.state, v.endpoint])).toEqual([
      ["alpha", "running", alpha.fleetSocket],
      ["beta", "running", beta.fleetSocket],
      ["gamma", "running", gamma.fleetSocket],
    ]);
    const [a, b, c] = vms;
    expect(a!.uuid).toBe("6a1f0c1e-0000-4000-8000-00000000a1fa");
    expect(b!.uuid).toBeNull(); // started without -uuid: QEMU reports the nil UUID
    expect(a!.qemuVersion).toMatch(/^\d+\.\d+\.\d+$/);
    expect(Number(a!.memoryBytes)).toBe(128 * 1024 * 1024);
    expect(Number(b!.memoryBytes)).toBe(192 * 1024 * 1024);
    expect(a!.disks).toEqual([harnessDisk(alpha, 0, 64)]);
    expect(b!.disks).toEqual([harnessDisk(beta, 0, 32), harnessDisk(beta, 1, 16, false)]);
    expect(c!.disks).toEqual([]);
    expect(a!.bgSnapshotSupported).toBe(true);
    expect(a!.bgSnapshotBlocker).toBeNull();
    expect(c!.bgSnapshotSupported).toBe(false);
    expect(c!.bgSnapshotBlocker).toMatch(/QEMU blocks migration: .*ivshmem/);
    expect(a!.lastSeenAt).toBeInstanceOf(Date);
  });

  test("a second pass over an unchanged host changes nothing and reuses the sessions", async () => {
    const session = await getVmSession(
      (await database.current.prisma.vm.findFirstOrThrow({ where: { name: "alpha" } })).id,
    );
    const result = await discoverHost(hostId);
    expect(result).toMatchObject({ ok: true, found: 3, added: 0, updated: 0, gone: 0 });
    const again = await getVmSession(
      (await database.current.prisma.vm.findFirstOrThrow({ where: { name: "alpha" } })).id,
    );
    expect(again).toBe(session);
  });

  test("a VM whose socket vanishes is marked gone with its history kept, and revived when it returns", async () => {
    const prisma = database.current.prisma;
    const vm = await prisma.vm.findFirstOrThrow({ where: { name: "alpha" } });
    await prisma.snapshot.create({ data: { vmId: vm.id, hostId, status: "completed" } });

    await alpha.dispose();
    await rm(alpha.fleetSocket, { force: true });
    const result = await discoverHost(hostId);
    expect(result).toMatchObject({ found: 2, gone: 1 });
    const gone = await prisma.vm.findUniqueOrThrow({ where: { id: vm.id }, include: { snapshots: true } });
    expect(gone.state).toBe("gone");
    expect(gone.goneAt).toBeInstanceOf(Date);
    expect(gone.stateReason).toContain("vanished");
    expect(gone.snapshots).toHaveLength(1);
    await expect(getVmSession(vm.id)).rejects.toThrow(VmUnreachableError);

    // Same QEMU uuid on a new socket name: the same row comes back, with its history.
    alpha = await startFleetVm(sockets.dir, "alpha-restarted", {
      extraArgs: ["-uuid", "6a1f0c1e-0000-4000-8000-00000000a1fa"],
    });
    const back = await discoverHost(hostId);
    expect(back).toMatchObject({ found: 3, revived: 1, added: 0 });
    const revived = await prisma.vm.findUniqueOrThrow({ where: { id: vm.id }, include: { snapshots: true } });
    expect(revived).toMatchObject({
      name: "alpha-restarted",
      state: "running",
      goneAt: null,
      endpoint: alpha.fleetSocket,
    });
    expect(revived.snapshots).toHaveLength(1);
    expect(await prisma.vm.count({ where: { hostId } })).toBe(3);
  });

  test("refreshVm re-reads one VM at once: a disk cut over to an overlay shows its new node and file", async () => {
    const prisma = database.current.prisma;
    const vm = await prisma.vm.findFirstOrThrow({ where: { uuid: "6a1f0c1e-0000-4000-8000-00000000a1fa" } });
    const overlay = path.join(alpha.dir, "overlay.qcow2");
    const outside = await connectQmp({ kind: "unix", path: alpha.qmpSocket });
    await outside.transaction([
      blockdevSnapshotSync({
        "node-name": "disk0",
        "snapshot-file": overlay,
        "snapshot-node-name": "ov0",
        format: "qcow2",
      }),
    ]);
    await outside.close();
    const json = await refreshVm(vm.id);
    expect(json.disks).toEqual([
      { node: "ov0", device: "vd0", format: "qcow2", file: overlay, writable: true, sizeBytes: 64 * 1024 * 1024 },
    ]);
    expect((await prisma.vm.findUniqueOrThrow({ where: { id: vm.id } })).disks).toEqual(json.disks);
  });

  test("a stale socket (QEMU killed) leaves the VM unreachable with the reason, not gone", async () => {
    const prisma = database.current.prisma;
    const vm = await prisma.vm.findFirstOrThrow({ where: { name: "beta" } });
    beta.kill("SIGKILL");
    await beta.exited;
    const result = await discoverHost(hostId);
    expect(result).toMatchObject({ found: 3, unreachable: 1, gone: 0 });
    const row = await prisma.vm.findUniqueOrThrow({ where: { id: vm.id } });
    expect(row.state).toBe("unreachable");
    expect(row.stateReason).toMatch(/QEMU is not running \(stale socket\)|QMP session lost/);
    await expect(getVmSession(vm.id)).rejects.toThrow(/unreachable/);
  });

  test("a host whose socket directory disappears is unhealthy and its VMs unreachable, never gone", async () => {
    const prisma = database.current.prisma;
    await prisma.host.update({ where: { id: hostId }, data: { socketDir: path.join(sockets.dir, "missing") } });
    const result = await discoverHost(hostId);
    expect(result.ok).toBe(false);
    expect(result.error).toMatch(/does not exist/);
    const host = await prisma.host.findUniqueOrThrow({ where: { id: hostId } });
    expect(host.healthy).toBe(false);
    const states = await prisma.vm.findMany({
      where: { hostId, state: { not: "gone" } },
      select: { state: true, stateReason: true },
    });
    expect(states.every((s) => s.state === "unreachable" && s.stateReason?.startsWith("host unreachable"))).toBe(true);
    expect(await prisma.vm.count({ where: { hostId, state: "gone" } })).toBe(0);
  });
});
