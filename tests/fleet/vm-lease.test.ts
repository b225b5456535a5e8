// The VM lease's renewal (lib/fleet/vm-lease.ts) against a real PostgreSQL: a lease this process takes
// while a renewal's UPDATE is in flight is not in that UPDATE's answer, and must not be taken for a lease
// another process won (which would close the VM's fresh QMP session under the job that just opened it).
import pg from "pg";
import { afterAll, expect, it } from "vitest";
import { db } from "../../lib/db/client";
import {
  acquireVmLease,
  holdsVmLease,
  releaseAllVmLeases,
  renewLeases,
  setLeaseSessionCloser,
} from "../../lib/fleet/vm-lease";
import { useTestDatabase } from "../support/db";
import { until } from "../support/wait";

const database = useTestDatabase();

afterAll(async () => {
  await releaseAllVmLeases();
});

it("a lease taken while a renewal runs is kept, and its session is not closed", async () => {
  const host = await db().host.create({ data: { name: "lease-host", kind: "local", snapshotDir: "/tmp" } });
  const [a, b] = await Promise.all(
    ["a", "b"].map((n) =>
      db().vm.create({ data: { hostId: host.id, name: `lease-${n}`, endpoint: `/tmp/${n}.sock` } }),
    ),
  );
  const closed: string[] = [];
  setLeaseSessionCloser(async (vmId) => void closed.push(vmId));
  expect(await acquireVmLease(a!.id)).toEqual({ owned: true });

  // Hold A's lease row so the renewal's UPDATE waits on it; take B's lease meanwhile.
  const locker = new pg.Client({ connectionString: database.current.url });
  await locker.connect();
  try {
    await locker.query("BEGIN");
    await locker.query(`SELECT 1 FROM "VmLease" WHERE "vmId" = $1 FOR UPDATE`, [a!.id]);
    const renewal = renewLeases();
    // Asked on another connection: inside the locker's transaction pg_stat_activity is one cached snapshot.
    await until(async () => {
      const rows = await db().$queryRawUnsafe<Array<{ n: number }>>(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%UPDATE "VmLease" SET "expiresAt"%' AND pid <> pg_backend_pid()`,
      );
      return rows[0]!.n > 0 ? true : undefined;
    }, "the renewal's UPDATE waiting on A's row");
    expect(await acquireVmLease(b!.id)).toEqual({ owned: true });
    await locker.query("COMMIT");
    await renewal;
  } finally {
    await locker.end();
  }
  expect(holdsVmLease(a!.id)).toBe(true);
  expect(holdsVmLease(b!.id)).toBe(true);
  expect(closed).toEqual([]);
  // The next renewal sees both.
  await renewLeases();
  expect([holdsVmLease(a!.id), holdsVmLease(b!.id)]).toEqual([true, true]);
});

it("an idle VM handed over on request goes to the claimer: this process's own sweeps do not take it back first", async () => {
  const host = await db().host.create({ data: { name: "handover-host", kind: "local", snapshotDir: "/tmp" } });
  const vm = await db().vm.create({ data: { hostId: host.id, name: "handover", endpoint: "/tmp/handover.sock" } });
  const closed: string[] = [];
  setLeaseSessionCloser(async (vmId) => void closed.push(vmId));
  expect(await acquireVmLease(vm.id)).toEqual({ owned: true });

  // Another process asks for the VM (claimVmLease's request), and this one's renewal hands it over.
  await db()
    .$executeRaw`UPDATE "VmLease" SET "releaseRequestedAt" = now() AT TIME ZONE 'UTC' WHERE "vmId" = ${vm.id}::uuid`;
  await renewLeases();
  expect(closed).toEqual([vm.id]);
  expect(await db().vmLease.findUnique({ where: { vmId: vm.id } })).toBeNull();

  // A sweep here asks for the VM at once (the row is free): it is refused, naming the hand-over.
  const retake = await acquireVmLease(vm.id);
  expect(retake.owned).toBe(false);
  expect(retake.owned ? "" : retake.owner).toMatch(/handing it over/);
  expect(holdsVmLease(vm.id)).toBe(false);

  // The claimer's next poll takes the free row.
  await db().$executeRaw`
    INSERT INTO "VmLease" ("vmId", "owner", "ownerMachine", "ownerPid", "expiresAt")
    VALUES (${vm.id}::uuid, 'claimer:1:abc', 'elsewhere|pid:[1]', 1, now() AT TIME ZONE 'UTC' + interval '6 seconds')`;
  expect((await acquireVmLease(vm.id)).owned).toBe(false);
});
