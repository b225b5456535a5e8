// Snapshots of VMs on remote hosts, through the API and the worker:
//  - an SSH host (the test sshd in front of the guest-kit VM; the dashboard reaches the monitor by
//    stream-local forwarding and the snapshot directory by SFTP): a live snapshot completes, its vmstate
//    written ON THE HOST by QEMU's own exec: writer (lib/snapshots/remote-sink.ts), and a hand restore
//    of its files is consistent (the guest kit's checkers); the guest keeps running; a disks-only
//    snapshot completes; cutting the SSH connection mid-stream ends the job with a reason and the guest
//    still runs, with nothing left in the snapshot directory; delete removes the vmstate (proven unused
//    through the host's /proc over SSH) and the internal snapshot (through QMP); a rollback over SSH
//    (stop, safety snapshot, `qemu-img snapshot -a`, QEMU started again on the host as its user, vmstate
//    loaded with exec:cat there) puts the guest back at the snapshot's instant (its own checkers);
//    The SSH host is what the fleet issue asks for: QEMU runs as a dedicated unprivileged user
//    (tests/fleet/host-user.ts), which owns its monitor socket directory and snapshot directory (0700)
//    and is the user the dashboard logs in as (key auth); a snapshot directory on a 16 MiB file system
//    (a loop-mounted ext4 image) makes a live snapshot fail cleanly: guest running, no debris;
//  - a TLS host (QMP only): live and ram-only are refused before anything is queued (422 with the
//    reason, and the VM's JSON says so), disks-only completes and is deleted through QMP.
import { execFile } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { mkdtemp, rm, truncate } from "node:fs/promises";
import { promisify } from "node:util";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DELETE as deleteRoute, GET as getRoute } from "../../app/api/snapshots/[id]/route";
import { GET as vmRoute } from "../../app/api/vms/[id]/route";
import { POST as createRoute } from "../../app/api/vms/[id]/snapshots/route";
import { POST as createScheduleRoute } from "../../app/api/schedules/route";
import { GET as restorePlanRoute, POST as restorePost } from "../../app/api/snapshots/[id]/restore/route";
import { POST as verifyRoute } from "../../app/api/snapshots/[id]/verify/route";
import { getRestore } from "../../lib/restore/jobs";
import { restoreSource, sshManualCommands, type SnapshotWithVm } from "../../lib/restore/plan";
import type { RestoreJson } from "../../lib/restore/restore-json";
import { startRestoreWorker } from "../../lib/restore/worker";
import { editorOptions } from "../../lib/scheduler/editor-data";
import { db } from "../../lib/db/client";
import { discoverHost } from "../../lib/fleet/discovery";
import { createHost, updateHost } from "../../lib/fleet/hosts";
import { closeAllVmSessions, getVmSession } from "../../lib/fleet/sessions";
import { closeAllSshConnections } from "../../lib/fleet/ssh";
import type { VmJson } from "../../lib/fleet/vm-json";
import { startBoss, stopBoss } from "../../lib/jobs/boss";
import { logger } from "../../lib/logger";
import { listInternalSnapshotsOffline } from "../../lib/snapshots/internal-snapshots";
import type { SnapshotJson } from "../../lib/snapshots/snapshot-json";
import type { SnapshotStatusName } from "../../lib/snapshots/state-machine";
import { startSnapshotWorker } from "../../lib/snapshots/worker";
import { createSnapshotJob } from "../../lib/snapshots/jobs";
import { applyRetention } from "../../lib/scheduler/finalize";
import { snapshotEnginePort } from "../../lib/scheduler/engine-port";
import { ensureHostUser, ownDir, type HostUser } from "../fleet/host-user";
import { startSshd, type TestSshd } from "../fleet/sshd";
import { makeSocketDir, type SocketDir } from "../fleet/support";
import { makeTestPki, type TestPki } from "../qmp/tls-certs";
import { useTestDatabase } from "../support/db";
import { parseGuestTicks, startGuestKitVm, waitForGuestVerdict, type GuestKitOptions } from "../support/guest-kit";
import { expectGuestAdvances, expectGuestWritesPast, lastDiskN } from "../support/guest-progress";
import { disposeAllVms, startVm, type TestVm } from "../support/qemu";
import { expectRestoresConsistent } from "../support/restore";
import { adoptDetachedQemu, killDetached } from "../restore/support";

const database = useTestDatabase();
const log = logger.child({ test: "remote-hosts" });

// The restore must use these exact options again (same -m, kernel/initrd/append, devices).
const GUEST: GuestKitOptions = { name: "sshgk", memoryMiB: 160, dirtyMiB: 16, diskCounter: true, diskIntervalMs: 20 };

let sshd: TestSshd;
let sockets: SocketDir;
let pki: TestPki;
let work: string;
let guest: TestVm;
let tlsVm: TestVm;
let sshVmId: string;
let tlsVmId: string;
let stopWorker: () => Promise<void>;
let stopRestoreWorker: (() => Promise<void>) | undefined;
let hostUser: HostUser;
let sshHostId: string;
// QEMU < 8.1 opens userfaultfd (background-snapshot's write protection) with the syscall, which an
// unprivileged process may only use with vm.unprivileged_userfaultfd=1 — what a host running QEMU as a
// dedicated user needs (README "Hosts"). tests/support/global-setup.ts sets it for the whole run.
const execFileAsync = promisify(execFile);
let afterStatus: (status: SnapshotStatusName, id: string) => void | Promise<void> = () => {};

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), "sf-remote-"));
  sockets = await makeSocketDir("sf-rh-");
  pki = makeTestPki();
  hostUser = await ensureHostUser();
  await ownDir(hostUser, sockets.dir);
  await ownDir(hostUser, sockets.snapshotDir);
  [sshd, guest, tlsVm] = await Promise.all([
    startSshd({ user: hostUser.name }),
    // The monitor Snapfleet discovers over SSH is a second one, in the host's socket directory. QEMU runs
    // as the host user, which owns that directory.
    startGuestKitVm({
      ...GUEST,
      runAs: { uid: hostUser.uid, gid: hostUser.gid },
      extraArgs: ["-qmp", `unix:${path.join(sockets.dir, "sshgk.sock")},server=on,wait=off`],
    }),
    startVm({ name: "tlsd", memoryMiB: 96, disks: 1, tls: { credsDir: pki.dir, authzIdentity: pki.authzIdentity } }),
  ]);
  const url = database.current.url;
  await startBoss(url, log);
  stopRestoreWorker = await startRestoreWorker({ log, verifyRunMs: 2_000 });
  stopWorker = await startSnapshotWorker({
    log,
    pollIntervalMs: 250,
    cancelPollMs: 200,
    afterStatus: (s, id) => afterStatus(s, id),
  });

  const ssh = await createHost({
    kind: "ssh",
    name: "hv-ssh",
    address: "127.0.0.1",
    port: sshd.port,
    user: hostUser.name,
    privateKeyPath: sshd.userKeyPath,
    socketDir: sockets.dir,
    snapshotDir: sockets.snapshotDir,
    hostKeySha256: await sshd.hostKeySha256(),
  });
  sshHostId = ssh.host.id;
  sshVmId = await vmOf(ssh.host.id);
  const tls = await createHost({
    kind: "tls",
    name: "hv-tls",
    tlsEndpoints: [{ host: "127.0.0.1", port: tlsVm.tlsPort!, name: "tlsd" }],
    tlsCaPath: path.join(pki.dir, "ca-cert.pem"),
    tlsCertPath: path.join(pki.dir, "client-cert.pem"),
    tlsKeyPath: path.join(pki.dir, "client-key.pem"),
    snapshotDir: work,
  });
  tlsVmId = await vmOf(tls.host.id);
});

afterAll(async () => {
  await stopRestoreWorker?.();
  await stopWorker?.();
  await stopBoss();
  await closeAllVmSessions();
  await closeAllSshConnections();
  await killDetached();
  await sshd?.stop();
  await disposeAllVms();
  await sockets?.cleanup();
  pki?.cleanup();
  await rm(work, { recursive: true, force: true });
});

/** The host's VM: a save waits only 10 s for the first discovery, which a loaded machine may exceed. */
async function vmOf(hostId: string): Promise<string> {
  const row = await db().vm.findFirst({ where: { hostId, state: "running" } });
  if (row) return row.id;
  await discoverHost(hostId);
  return (await db().vm.findFirstOrThrow({ where: { hostId, state: "running" } })).id;
}

const ctx = (id: string) => ({ params: Promise.resolve({ id }) });
const req = (url: string, init?: RequestInit) => new Request(`http://test${url}`, init);
const create = (vmId: string, body: unknown) =>
  createRoute(req(`/api/vms/${vmId}/snapshots`, { method: "POST", body: JSON.stringify(body) }), ctx(vmId));
const get = async (id: string): Promise<SnapshotJson> => (await getRoute(req(`/api/snapshots/${id}`), ctx(id))).json();

async function settled(id: string, timeoutMs = 120_000): Promise<SnapshotJson> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await get(id);
    if (["completed", "failed", "cancelled"].includes(s.status)) return s;
    if (Date.now() > deadline) throw new Error(`snapshot ${id} still ${s.status}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function take(vmId: string, mode: string): Promise<SnapshotJson> {
  const res = await create(vmId, { mode });
  expect(res.status).toBe(202);
  return settled(((await res.json()) as { snapshot: SnapshotJson }).snapshot.id);
}

async function internalSnapshotsOf(vmId: string): Promise<string[]> {
  const blocks = await (await getVmSession(vmId)).queryBlock();
  return (blocks.find((b) => b.inserted && !b.inserted.ro)!.inserted!.image.snapshots ?? []).map((x) => x.name);
}

describe("SSH host", () => {
  let live: SnapshotJson;

  it("is the issue's host: QEMU, its socket and snapshot directories belong to an unprivileged user the dashboard logs in as", async () => {
    expect(hostUser.uid).not.toBe(0);
    expect(statSync(`/proc/${guest.pid}`).uid).toBe(hostUser.uid);
    for (const dir of [sockets.dir, sockets.snapshotDir]) {
      const st = statSync(dir);
      expect([st.uid, st.mode & 0o777]).toEqual([hostUser.uid, 0o700]);
    }
    const host = await db().host.findUniqueOrThrow({ where: { id: sshHostId } });
    expect(host.user).toBe(hostUser.name);
  });

  it("a live snapshot completes, written on the host by QEMU's exec: writer, and restores consistent", async () => {
    await guest.waitForSerial(/^tick 3 [^\n]*\n/m, 60_000);
    live = await take(sshVmId, "live");
    expect(live.error).toBeNull();
    expect(live.status).toBe("completed");
    const vmstate = live.files.find((f) => f.role === "vmstate")!;
    expect(vmstate.path.startsWith(`${sockets.snapshotDir}/`)).toBe(true);
    expect(vmstate.sizeBytes).toBeGreaterThan(1024 * 1024);
    // Only the vmstate is left in the snapshot's directory: the writer's status file was read and removed.
    expect(readdirSync(path.dirname(vmstate.path))).toEqual(["vmstate.bin"]);
    await expectGuestAdvances(guest);

    await expectRestoresConsistent(GUEST, live.files, { work, name: "ssh-restore" });
  });

  it("verify runs the sandbox on the SSH host (as its user, through SSH), passes, leaves nothing; a cut vmstate fails with QEMU's reason; rollback is possible (the by-hand commands of a refusal are exact)", async () => {
    const settledRestore = async (id: string): Promise<RestoreJson> => {
      const deadline = Date.now() + 180_000;
      for (;;) {
        const r = await getRestore(id);
        if (r.status === "completed" || r.status === "failed") return r;
        if (Date.now() > deadline) throw new Error(`restore ${id} still ${r.status}`);
        await new Promise((res) => setTimeout(res, 250));
      }
    };
    const verify = async (id: string) => {
      const res = await verifyRoute(req(`/api/snapshots/${id}/verify`, { method: "POST" }), ctx(id));
      const body = (await res.json()) as { restore: RestoreJson; error?: string };
      expect(res.status, body.error).toBe(202);
      return settledRestore(body.restore.id);
    };
    const sandboxes = () => readdirSync("/tmp").filter((f) => f.startsWith("sf-verify-"));
    const before = sandboxes();
    const v = await verify(live.id);
    expect(v.status, v.error?.message).toBe("completed");
    const row = await db().restore.findUniqueOrThrow({ where: { id: v.id } });
    const result = row.result as { steps: string[]; sandboxPid: number };
    expect(result.steps.join("; ")).toMatch(/RAM state loaded.*the guest ran 2 s/);
    expect((await db().snapshot.findUniqueOrThrow({ where: { id: live.id } })).verifiedAt).not.toBeNull();
    // The sandbox and its qemu-nbd exports are gone, and so is their temp dir; the VM runs on.
    // (A process that ended may linger as a zombie until this container's init reaps it: not running.)
    const running = (pid: number) => {
      const stat = existsSync(`/proc/${pid}/stat`) ? readFileSync(`/proc/${pid}/stat`, "utf8") : "";
      return stat !== "" && stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
    };
    expect(running(result.sandboxPid)).toBe(false);
    expect(sandboxes()).toEqual(before);
    const { stdout } = await execFileAsync("ps", ["-u", hostUser.name, "-o", "pid=,stat=,comm="]);
    const qemus = stdout
      .split("\n")
      .filter((l) => /qemu/.test(l))
      .map((l) => l.trim().split(/\s+/));
    expect(qemus.filter(([, stat]) => !stat!.startsWith("Z")).map(([pid]) => Number(pid))).toEqual([guest.pid]);
    await expectGuestAdvances(guest);

    const bad = await take(sshVmId, "live");
    expect(bad.status).toBe("completed");
    const vmstate = bad.files.find((f) => f.role === "vmstate")!.path;
    await truncate(vmstate, Math.floor(statSync(vmstate).size / 2));
    const f = await verify(bad.id);
    expect(f.status).toBe("failed");
    expect(f.error!.class).toBe("vmstate-load");
    expect((await db().snapshot.findUniqueOrThrow({ where: { id: bad.id } })).verifyError).toMatch(
      /qemu-system-x86_64: .*(migration|load|section|flags|Input\/output)/i,
    );
    expect(sandboxes()).toEqual(before);

    const plan = (await (await restorePlanRoute(req(`/api/snapshots/${live.id}/restore`), ctx(live.id))).json()) as {
      possible: boolean;
      refusal: unknown;
    };
    expect(plan).toMatchObject({ possible: true, refusal: null });
    // What a refusal on an SSH host (another user's QEMU, the host unreachable) tells to run by hand.
    const snapRow = (await db().snapshot.findUniqueOrThrow({
      where: { id: live.id },
      include: { vm: { include: { host: true } } },
    })) as SnapshotWithVm;
    const commands = sshManualCommands(snapRow.vm.host, restoreSource(snapRow), true, guest.pid).join("\n");
    expect(commands).toMatch(new RegExp(`^ssh -p ${sshd.port} '${hostUser.name}@127.0.0.1'`));
    expect(commands).toMatch(new RegExp(`^kill ${guest.pid} `, "m"));
    expect(commands).toMatch(/^qemu-img snapshot -a 'snapfleet-[^']+' '\/[^']+\.qcow2'$/m);
    expect(commands).toMatch(/exec setsid nohup '[^']*qemu-system-x86_64' .*'-incoming' 'defer'/);
    expect(commands).toMatch(/migrate-incoming.*exec:cat '\/[^']+\/vmstate\.bin'/);
    await expectGuestAdvances(guest);
  }, 300_000);

  it("a disks-only snapshot completes", async () => {
    const s = await take(sshVmId, "disks-only");
    expect(s.error).toBeNull();
    expect(await internalSnapshotsOf(sshVmId)).toContain(`snapfleet-${s.id}`);
  });

  it("the SSH connection cut mid-stream: the job ends with a reason, the guest runs on, nothing is left behind", async () => {
    afterStatus = async (status) => {
      if (status === "active") await closeAllSshConnections();
    };
    const s = await take(sshVmId, "ram-only");
    afterStatus = () => {};
    expect(s.status).toBe("failed");
    // QEMU kept running: the SSH connection went away, not QEMU (not "qemu-exited").
    expect(s.error?.class).toBe("connection-lost");
    expect(s.error?.message).toMatch(/connection to the host was lost; QEMU keeps running/);
    await expectGuestAdvances(guest);
    // The writer on the host was told to discard (over a new connection) and removed its file.
    const dir = path.join(sockets.snapshotDir, readdirSync(sockets.snapshotDir)[0]!, s.id);
    await expect
      .poll(() => (existsSync(dir) ? readdirSync(dir).filter((f) => f.startsWith("vmstate")) : []), { timeout: 30_000 })
      .toEqual([]);
  });

  it("a snapshot directory on a 16 MiB file system: a live snapshot fails cleanly, the guest runs on, nothing is left in it", async () => {
    // A 16 MiB ext4 image, loop-mounted (the host path policy refuses tmpfs for snapshot directories).
    // Not under `work` (root's 0700 temp dir): the host user must reach the mount point.
    const img = path.join(work, "small.ext4");
    const small = await mkdtemp(path.join(os.tmpdir(), "sf-small-"));
    await execFileAsync("truncate", ["-s", "16M", img]);
    await execFileAsync("mkfs.ext4", ["-q", "-F", img]);
    await execFileAsync("mount", ["-o", "loop", img, small]);
    try {
      await rm(path.join(small, "lost+found"), { recursive: true, force: true });
      await ownDir(hostUser, small);
      await updateHost(sshHostId, { snapshotDir: small });
      try {
        const res = await create(sshVmId, { mode: "live" });
        let s: SnapshotJson | undefined;
        if (res.status === 202) {
          s = await settled(((await res.json()) as { snapshot: SnapshotJson }).snapshot.id);
          expect(s.status).toBe("failed");
          expect(s.error?.class).toMatch(/^(refused|target-write)$/);
          expect(s.error?.message).toMatch(/space|full|ENOSPC/i);
        } else {
          expect(res.status).toBe(422);
          expect(((await res.json()) as { error: string }).error).toMatch(/space|full/i);
        }
        await expectGuestAdvances(guest);
        await expect.poll(() => readdirSync(small), { timeout: 30_000 }).toEqual([]);
      } finally {
        await updateHost(sshHostId, { snapshotDir: sockets.snapshotDir });
      }
    } finally {
      await execFileAsync("umount", [small]);
      await rm(img, { force: true });
      await rm(small, { recursive: true, force: true });
    }
  });

  it("delete removes the vmstate (unused, by the host's /proc over SSH) and the internal snapshot (through QMP)", async () => {
    const vmstate = live.files.find((f) => f.role === "vmstate")!.path;
    const res = await deleteRoute(req(`/api/snapshots/${live.id}`, { method: "DELETE" }), ctx(live.id));
    expect(res.status, await res.clone().text()).toBeLessThan(300);
    await expect
      .poll(async () => (await db().snapshot.findUniqueOrThrow({ where: { id: live.id } })).deletedAt !== null, {
        timeout: 30_000,
      })
      .toBe(true);
    expect(existsSync(vmstate)).toBe(false);
    expect(existsSync(path.dirname(vmstate))).toBe(false);
    expect(await internalSnapshotsOf(sshVmId)).not.toContain(`snapfleet-${live.id}`);
    const disk = live.files.find((f) => f.role === "disk")!.path;
    expect((await listInternalSnapshotsOffline(disk)).map((x) => x.name)).not.toContain(`snapfleet-${live.id}`);
  });

  it("retention keep-last 1 deletes the older scheduled snapshot there (its internal snapshot through QMP), the newer stays whole", async () => {
    const schedule = await db().schedule.create({
      data: { name: "ssh-keep-1", cron: "0 * * * *", targets: { vmIds: [sshVmId] }, retention: { keepLast: 1 } },
    });
    const older = await settled(
      (await createSnapshotJob({ vmId: sshVmId, mode: "disks-only", scheduleId: schedule.id })).id,
    );
    const newer = await settled(
      (await createSnapshotJob({ vmId: sshVmId, mode: "disks-only", scheduleId: schedule.id })).id,
    );
    expect([older.status, newer.status]).toEqual(["completed", "completed"]);
    const pruned = await applyRetention({
      scheduleId: schedule.id,
      runId: null,
      vmIds: [sshVmId],
      port: snapshotEnginePort(log),
      log,
    });
    expect(pruned).toBe(1);
    expect((await get(older.id)).deletedAt).not.toBeNull();
    expect((await get(newer.id)).deletedAt).toBeNull();
    const names = await internalSnapshotsOf(sshVmId);
    expect(names).not.toContain(`snapfleet-${older.id}`);
    expect(names).toContain(`snapfleet-${newer.id}`);
    await expectGuestAdvances(guest);
  });

  // Last of this block: it replaces the guest's QEMU (the test kills the one the rollback started).
  it("rollback over SSH: QEMU stopped, the disks rolled back on the host, QEMU started again there as the SSH user; the guest resumes at the snapshot's instant", async () => {
    await guest.waitForSerial(/^tick \d+ /m, 30_000, guest.serialOutput().length);
    const atSnapshot = lastDiskN(guest);
    const s = await take(sshVmId, "live");
    expect(s.status, s.error?.message).toBe("completed");
    const reached = await expectGuestWritesPast(guest, atSnapshot);

    const res = await restorePost(req(`/api/snapshots/${s.id}/restore`, { method: "POST" }), ctx(s.id));
    const body = (await res.json()) as { restore: RestoreJson; error?: string };
    expect(res.status, body.error).toBe(202);
    const deadline = Date.now() + 180_000;
    let done: RestoreJson;
    for (;;) {
      done = await getRestore(body.restore.id);
      if (done.status === "completed" || done.status === "failed") break;
      if (Date.now() > deadline) throw new Error(`rollback ${done.id} still ${done.status}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    const pid = done.result?.newPid as number | undefined;
    try {
      expect(done.status, done.error?.message).toBe("completed");
      expect(done.statusHistory.map((h) => h.status)).toEqual(["queued", "setup", "active", "completed"]);
      expect(pid).not.toBe(guest.pid);
      // The serial log is a file on the host, which is this machine: the restarted QEMU wrote it afresh.
      const current = adoptDetachedQemu(guest, pid!);
      expect(statSync(`/proc/${pid}`).uid).toBe(hostUser.uid);
      expect(
        existsSync(`/proc/${guest.pid}/stat`) && !/\) Z/.test(readFileSync(`/proc/${guest.pid}/stat`, "utf8")),
      ).toBe(false);
      const verdict = await waitForGuestVerdict(current, { timeoutMs: 60_000 });
      expect(verdict.ram).toMatchObject({ status: "consistent" });
      expect(verdict.disk).toMatchObject({ status: "consistent" });
      // The snapshot's instant: the counter continues from where it was then, not from where it got to.
      const first = parseGuestTicks(current.serialOutput())[0]!;
      expect(first.diskN).toBeGreaterThanOrEqual(atSnapshot);
      expect(first.diskN).toBeLessThan(reached);
      // The safety snapshot: the disks as they were just before, inside the image; the VM row follows.
      const safety = await get(done.safetySnapshotId!);
      expect(safety.status).toBe("completed");
      expect(await internalSnapshotsOf(sshVmId)).toEqual(
        expect.arrayContaining([`snapfleet-${s.id}`, `snapfleet-${safety.id}`]),
      );
      expect(((await db().vm.findUniqueOrThrow({ where: { id: sshVmId } })).launch as { pid?: number }).pid).toBe(pid);
    } finally {
      // The QEMU the rollback started (also when the rollback failed after starting it).
      await closeAllVmSessions();
      if (pid) await killDetached([pid]);
    }
  }, 300_000);
});

describe("TLS host (QMP only)", () => {
  it("the VM page says which modes the host kind cannot give", async () => {
    const vm = (await (await vmRoute(req(`/api/vms/${tlsVmId}`), ctx(tlsVmId))).json()) as { vm?: VmJson } & VmJson;
    const json = (vm.vm ?? vm) as VmJson;
    expect(json.hostKind).toBe("tls");
    expect(json.hostModeBlockers?.live).toMatch(/TLS host gives Snapfleet only QMP/);
    expect(json.hostModeBlockers?.["ram-only"]).toMatch(/disks-only/);
    expect(json.hostModeBlockers?.["disks-only"]).toBeNull();
  });

  it("a schedule that would take live snapshots of it is refused on save; the editor knows before", async () => {
    const vm = await db().vm.findUniqueOrThrow({ where: { id: tlsVmId } });
    const save = (mode: string, targets: unknown) =>
      createScheduleRoute(
        req("/api/schedules", {
          method: "POST",
          body: JSON.stringify({ name: `s-${mode}-${Math.random()}`, cron: "0 * * * *", mode, targets }),
        }),
      );
    for (const targets of [{ hostId: vm.hostId }, { vmIds: [tlsVmId] }]) {
      const refused = await save("live", targets);
      expect(refused.status).toBe(422);
      expect(((await refused.json()) as { error: string }).error).toMatch(/^mode: .*TLS host gives Snapfleet only QMP/);
    }
    expect((await save("disks-only", { hostId: vm.hostId })).status).toBe(201);
    const options = await editorOptions();
    expect(options.vms.find((v) => v.id === tlsVmId)?.modeBlockers.live).toMatch(/only QMP/);
    expect(options.hosts.find((h) => h.id === vm.hostId)?.modeBlockers["disks-only"]).toBeNull();
    expect(options.vms.find((v) => v.id === sshVmId)?.modeBlockers.live).toBeNull();
  });

  it("live and ram-only are refused before anything is queued; disks-only completes and is deleted through QMP", async () => {
    for (const mode of ["live", "ram-only"]) {
      const res = await create(tlsVmId, { mode });
      expect(res.status).toBe(422);
      expect(((await res.json()) as { error: string }).error).toMatch(/TLS host gives Snapfleet only QMP/);
    }
    expect(await db().snapshot.count({ where: { vmId: tlsVmId } })).toBe(0);

    const s = await take(tlsVmId, "disks-only");
    expect(s.error).toBeNull();
    expect(s.files.map((f) => f.role)).toEqual(["disk"]);
    expect(await internalSnapshotsOf(tlsVmId)).toContain(`snapfleet-${s.id}`);
    expect(readdirSync(work).filter((f) => !f.includes("restore"))).toEqual([]); // nothing written on the dashboard's side

    const res = await deleteRoute(req(`/api/snapshots/${s.id}`, { method: "DELETE" }), ctx(s.id));
    expect(res.status).toBeLessThan(300);
    await expect
      .poll(async () => (await db().snapshot.findUniqueOrThrow({ where: { id: s.id } })).deletedAt !== null, {
        timeout: 30_000,
      })
      .toBe(true);
    expect(await internalSnapshotsOf(tlsVmId)).not.toContain(`snapfleet-${s.id}`);
  });
});
