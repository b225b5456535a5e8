// One owner per VM monitor (lib/fleet/vm-lease.ts), with real QEMU and real PostgreSQL: two dashboard
// worker processes (fixtures/worker-stand-in.ts, mode "worker") on one database and two guest-kit VMs,
// one on the local host and one on an SSH host (the test sshd; QEMU runs as a dedicated unprivileged user).
// Twelve snapshots requested alternately reach either worker through the shared queue: each runs in the
// process owning its VM (the other routes it back), all complete, none fails "busy". Then the owner of
// a VM is SIGKILLed: the other takes the VM over within seconds and its next snapshot completes. Last,
// the lease's expiry alone (an owner on another machine, no pid to check) frees a VM within its TTL.
import { mkdirSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { db } from "../../lib/db/client";
import { NotOwnerError } from "../../lib/fleet/errors";
import { closeAllVmSessions, getVmSession } from "../../lib/fleet/sessions";
import { closeAllSshConnections } from "../../lib/fleet/ssh";
import { LEASE_TTL_MS, acquireVmLease } from "../../lib/fleet/vm-lease";
import { startBoss, stopBoss } from "../../lib/jobs/boss";
import { logger } from "../../lib/logger";
import { createSnapshotJob, getSnapshot } from "../../lib/snapshots/jobs";
import { ensureHostUser, ownDir } from "../fleet/host-user";
import { startSshd, type TestSshd } from "../fleet/sshd";
import { makeSocketDir, type SocketDir } from "../fleet/support";
import { startGuestKitVm } from "../support/guest-kit";
import { expectGuestAdvances } from "../support/guest-progress";
import { useTestDatabase } from "../support/db";
import { disposeAllVms, type TestVm } from "../support/qemu";
import { settledSnapshot } from "../support/snapshot-jobs";
import { standIns, startStandIn, type StandIn } from "../support/stand-in";
import { until } from "../support/wait";
import { seedLocalHost } from "../support/local-host";

const database = useTestDatabase();
const log = logger.child({ test: "monitor-owner" });

let root: string;
let sinkDir: string;
const vms: TestVm[] = [];
const vmIds: string[] = [];
let sshd: TestSshd;
let sshSockets: SocketDir;
// QEMU < 8.1 run by an unprivileged user needs vm.unprivileged_userfaultfd=1 for background snapshots
// (README "Hosts"): tests/support/global-setup.ts sets it for the whole run.

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), "snapfleet-mo-"));
  sinkDir = path.join(root, "sock");
  mkdirSync(sinkDir, { mode: 0o700 });
  const hostUser = await ensureHostUser();
  sshSockets = await makeSocketDir("sf-mo-");
  await ownDir(hostUser, sshSockets.dir);
  await ownDir(hostUser, sshSockets.snapshotDir);
  const mobSocket = path.join(sshSockets.dir, "mob.sock");
  let mob: TestVm;
  let moa: TestVm;
  [sshd, moa, mob] = await Promise.all([
    startSshd({ user: hostUser.name }),
    startGuestKitVm({ name: "moa", memoryMiB: 160, dirtyMiB: 16, diskCounter: true }),
    startGuestKitVm({
      name: "mob",
      memoryMiB: 160,
      dirtyMiB: 16,
      diskCounter: true,
      runAs: { uid: hostUser.uid, gid: hostUser.gid },
      extraArgs: ["-qmp", `unix:${mobSocket},server=on,wait=off`],
    }),
  ]);
  vms.push(moa, mob);
  const ssh = await db().host.create({
    data: {
      name: "hv-ssh",
      kind: "ssh",
      address: "127.0.0.1",
      port: sshd.port,
      user: hostUser.name,
      privateKeyPath: sshd.userKeyPath,
      hostKeySha256: await sshd.hostKeySha256(),
      socketDir: sshSockets.dir,
      snapshotDir: sshSockets.snapshotDir,
      healthy: true,
    },
  });
  vmIds.push((await seedLocalHost(root, [moa])).vms[0]!.id);
  vmIds.push(
    (
      await db().vm.create({
        data: { hostId: ssh.id, name: mob.name, endpoint: mobSocket, state: "running", bgSnapshotSupported: true },
      })
    ).id,
  );
  await startBoss(database.current.url, log); // this process only enqueues: it never opens a VM's monitor
});

afterAll(async () => {
  for (const c of standIns) c.kill("SIGKILL");
  await stopBoss();
  await closeAllVmSessions();
  await closeAllSshConnections();
  await disposeAllVms();
  await sshd?.stop();
  await sshSockets?.cleanup();
  await rm(root, { recursive: true, force: true });
});

/** A dashboard worker process (pg-boss queue, admission, sweeps) on the shared database. */
async function startWorker(): Promise<StandIn> {
  const w = startStandIn({ mode: "worker", sinkDir, sweepMs: 2_000 });
  await w.next((l) => l.ready === true, 60_000);
  return w;
}

/** The pid in a lease's owner ("hostname:pid:bootid"). */
async function ownerPid(vmId: string): Promise<number | undefined> {
  const lease = await db().vmLease.findUnique({ where: { vmId } });
  return lease ? Number(lease.owner.split(":").at(-2)) : undefined;
}

/** Which worker ran a snapshot (its afterStatus lines carry the pid). */
function ranBy(workers: StandIn[], snapshotId: string): number[] {
  return workers
    .filter((w) => w.lines.some((l) => l.snapshotId === snapshotId && l.status === "preflight"))
    .map((w) => w.pid);
}

it("two worker processes, twelve snapshots alternately: each runs in its VM's owner, all complete; the owner SIGKILLed, the other takes its VM over within seconds", async () => {
  const workers = await Promise.all([startWorker(), startWorker()]);
  await Promise.all(vms.map((vm) => vm.waitForSerial(/^tick 2 /m, 30_000)));

  // Twelve snapshots, alternately A (local host) and B (SSH host) (a VM takes one snapshot at a time): the
  // queue hands each to either worker.
  const ids: string[] = [];
  for (let round = 0; round < 6; round++) {
    const pair = await Promise.all(vmIds.map((vmId) => createSnapshotJob({ vmId, mode: "live" })));
    ids.push(...pair.map((s) => s.id));
    const ends = await Promise.all(pair.map((s) => settledSnapshot(s.id)));
    for (const end of ends)
      expect({ id: end.id, status: end.status, error: end.error?.message }).toEqual({
        id: end.id,
        status: "completed",
        error: undefined,
      });
  }
  const all = await Promise.all(ids.map((id) => getSnapshot(id)));
  expect(all.map((s) => s.status)).toEqual(Array(12).fill("completed"));
  expect(all.filter((s) => /busy|another client holds/.test(s.error?.message ?? ""))).toEqual([]);
  // Each snapshot ran exactly once, in the process holding its VM's lease.
  const owners = await Promise.all(vmIds.map((vmId) => ownerPid(vmId)));
  for (const [i, id] of ids.entries()) expect(ranBy(workers, id)).toEqual([owners[i % 2]]);
  expect(workers.map((w) => w.pid)).toEqual(expect.arrayContaining(owners.filter((p): p is number => p !== undefined)));
  // Queue entries: one per snapshot plus one per delivery to a process that did not own the VM (routed back).
  const [{ deliveries }] = await db().$queryRaw<
    [{ deliveries: number }]
  >`SELECT count(*)::int AS deliveries FROM pgboss.job WHERE name = 'snapshot.run'`;
  expect(deliveries).toBeGreaterThanOrEqual(12);
  process.stderr.write(
    `monitor-owner: owners ${JSON.stringify(owners)} of workers ${JSON.stringify(workers.map((w) => w.pid))}; ${deliveries - 12} deliveries routed back to the owner\n`,
  );

  // The owner of VM A dies the way an OOM kill ends a dashboard.
  const victim = workers.find((w) => w.pid === owners[0])!;
  const survivor = workers.find((w) => w !== victim)!;
  victim.child.kill("SIGKILL");
  await victim.exited;
  const killedAt = Date.now();
  const next = await createSnapshotJob({ vmId: vmIds[0]!, mode: "live" });
  await until(
    () => (survivor.lines.some((l) => l.snapshotId === next.id && l.status === "preflight") ? true : undefined),
    "the survivor to take VM A's job",
    15_000,
  );
  const tookOverMs = Date.now() - killedAt;
  expect(tookOverMs).toBeLessThan(10_000);
  expect((await settledSnapshot(next.id)).status).toBe("completed");
  expect(await ownerPid(vmIds[0]!)).toBe(survivor.pid);
  // The other VM keeps working too (owned by the survivor already, or taken over now).
  const other = await createSnapshotJob({ vmId: vmIds[1]!, mode: "live" });
  expect((await settledSnapshot(other.id)).status).toBe("completed");
  expect(await ownerPid(vmIds[1]!)).toBe(survivor.pid);
  process.stderr.write(
    `monitor-owner: VM A's first job after its owner's SIGKILL started in the survivor after ${tookOverMs} ms\n`,
  );

  // This process asks the idle survivor for VM A (as a deletion does): handed over within a renewal.
  const qmp = await getVmSession(vmIds[0]!, { claimWaitMs: 10_000 });
  expect((await qmp.queryStatus()).status).toBe("running");
  await expectGuestAdvances(vms[0]!);
  await expectGuestAdvances(vms[1]!);
  survivor.child.kill("SIGKILL");
  await survivor.exited;
}, 600_000);

it("an owner on another machine that stops renewing loses the VM once its lease expires", async () => {
  await closeAllVmSessions();
  const vmId = vmIds[1]!;
  await db().vmLease.deleteMany({ where: { vmId } });
  // Another machine's process took the VM and then went silent (no pid here to check: only the TTL frees it).
  await db().$executeRaw`
    INSERT INTO "VmLease" ("vmId", "owner", "ownerMachine", "ownerPid", "expiresAt")
    VALUES (${vmId}::uuid, 'elsewhere:4242:deadbeef', 'elsewhere|pid:[1]', 4242, now() AT TIME ZONE 'UTC' + make_interval(secs => ${LEASE_TTL_MS / 1000}))`;
  const err = await getVmSession(vmId).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(NotOwnerError);
  expect((err as NotOwnerError).owner).toBe("elsewhere:4242:deadbeef");
  const started = Date.now();
  await until(
    async () => ((await acquireVmLease(vmId)).owned ? true : undefined),
    "the silent owner's lease to expire",
    LEASE_TTL_MS + 5_000,
  );
  expect(Date.now() - started).toBeLessThan(LEASE_TTL_MS + 1_500);
  expect((await (await getVmSession(vmId)).queryStatus()).status).toBe("running");
}, 60_000);
