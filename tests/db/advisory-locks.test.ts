// Advisory locks (lib/db/advisory-locks.ts) against a real PostgreSQL. The keys must never change:
// a dashboard of an older version on the same database takes the same locks with its own SQL, and the
// two must still exclude each other. So each key is read back from pg_locks and compared with the
// number the old code locked (computed by PostgreSQL from the old statements, and pinned below), and
// locks taken with the old statements verbatim are seen by the new helpers (and the reverse).
import pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import {
  ADMISSION_LOCK,
  advisoryLockOn,
  advisoryUnlockOn,
  advisoryXactLock,
  DISCOVERY_LEADER_LOCK,
  lockKey,
  PRISMA_MIGRATE_LOCK,
  tryAdvisoryLock,
  tryAdvisoryLockOn,
  tryAdvisoryXactLock,
  type AdvisoryLockKey,
} from "../../lib/db/advisory-locks";
import { db } from "../../lib/db/client";
import { useTestDatabase } from "../support/db";
import { until } from "../support/wait";

const database = useTestDatabase();

const ID = "0b6f7c1e-5d2a-4c8e-9f3b-2a1d4e6f8a90";

/** The keys the previous version locked, as PostgreSQL numbers them (bigint). */
const PINNED: Array<[string, AdvisoryLockKey, bigint]> = [
  ["job:<id>", lockKey("job", ID), -688019887217652748n],
  ["vm:<id>", lockKey("vm", ID), -8779630517841872683n],
  ['admission ("snapadm")', ADMISSION_LOCK, 0x736e617061646dn],
  ['discovery leader ("snapdisc")', DISCOVERY_LEADER_LOCK, 0x736e617064697363n],
  ["Prisma migrate", PRISMA_MIGRATE_LOCK, 72707369n],
];

const clients: pg.Client[] = [];
async function connection(): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: database.current.url });
  await client.connect();
  clients.push(client);
  return client;
}
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.end()));
});

/** The int8 advisory keys a connection holds, from pg_locks (classid = high 32 bits, objid = low). */
async function heldKeys(client: pg.Client): Promise<bigint[]> {
  const { rows } = await client.query<{ key: string }>(
    `SELECT ((classid::bigint << 32) | objid::bigint)::text AS key FROM pg_locks
      WHERE locktype = 'advisory' AND objsubid = 1 AND pid = pg_backend_pid() AND granted`,
  );
  return rows.map((r) => BigInt(r.key));
}

describe("advisory lock keys", () => {
  it.each(PINNED)("%s is the number the previous version locked", async (_name, key, expected) => {
    const client = await connection();
    await advisoryLockOn(client, key);
    expect(await heldKeys(client)).toEqual([expected]);
    await advisoryUnlockOn(client, key);
    expect(await heldKeys(client)).toEqual([]);
  });

  it("per-object keys are PostgreSQL's hash of snapfleet:<kind>:<id>, as the previous version computed them", async () => {
    const client = await connection();
    const { rows } = await client.query<{ job: string; vm: string }>(
      "SELECT hashtextextended($1, 0)::text AS job, hashtextextended($2, 0)::text AS vm",
      [`snapfleet:job:${ID}`, `snapfleet:vm:${ID}`],
    );
    expect([BigInt(rows[0]!.job), BigInt(rows[0]!.vm)]).toEqual([PINNED[0]![2], PINNED[1]![2]]);
  });
});

describe("old and new versions on one database exclude each other", () => {
  it("a job lock taken with the previous version's statement keeps the new one out, and the reverse", async () => {
    const old = await connection();
    const { rows } = await old.query<{ ok: boolean }>("SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS ok", [
      `snapfleet:job:${ID}`,
    ]);
    expect(rows[0]!.ok).toBe(true);
    expect(await tryAdvisoryLock(lockKey("job", ID), database.current.url)).toBeNull();
    await old.query("SELECT pg_advisory_unlock_all()");

    const held = await tryAdvisoryLock(lockKey("job", ID), database.current.url);
    expect(held).not.toBeNull();
    const again = await old.query<{ ok: boolean }>("SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS ok", [
      `snapfleet:job:${ID}`,
    ]);
    expect(again.rows[0]!.ok).toBe(false);
    await held!.release();
  });

  it("the discovery leader's lock taken the old way keeps a new process from leading", async () => {
    const old = await connection();
    await old.query("SELECT pg_try_advisory_lock($1::bigint)", [BigInt("0x736e617064697363").toString()]);
    expect(await tryAdvisoryLockOn(await connection(), DISCOVERY_LEADER_LOCK)).toBe(false);
  });

  it("a deletion's vm lock held the old way makes the new admission try-lock fail inside its transaction", async () => {
    const old = await connection();
    await old.query("SELECT pg_advisory_lock(hashtextextended($1, 0))", [`snapfleet:vm:${ID}`]);
    expect(await db().$transaction((tx) => tryAdvisoryXactLock(tx, lockKey("vm", ID)))).toBe(false);
    await old.query("SELECT pg_advisory_unlock_all()");
    expect(await db().$transaction((tx) => tryAdvisoryXactLock(tx, lockKey("vm", ID)))).toBe(true);
  });

  it("admission waits for the old version's transaction lock on the same key", async () => {
    const old = await connection();
    await old.query("BEGIN");
    await old.query(`SELECT pg_advisory_xact_lock(${0x736e6170_61646dn})`);
    let admitted = false;
    const admission = db().$transaction(async (tx) => {
      await advisoryXactLock(tx, ADMISSION_LOCK);
      admitted = true;
    });
    // The new admission is queued behind the old one's lock until that transaction ends.
    const waiting = await connection();
    await until(async () => {
      const { rows } = await waiting.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted",
      );
      return rows[0]!.n === 1 ? true : undefined;
    }, "the new admission to wait for the lock");
    expect(admitted).toBe(false);
    await old.query("COMMIT");
    await admission;
    expect(admitted).toBe(true);
  });
});

describe("a lock on its own connection", () => {
  it("is held once, released once, and reports a connection the server dropped", async () => {
    const first = await tryAdvisoryLock(lockKey("vm", ID), database.current.url);
    expect(first).not.toBeNull();
    expect(await tryAdvisoryLock(lockKey("vm", ID), database.current.url)).toBeNull();
    await first!.release();
    await first!.release();
    const second = await tryAdvisoryLock(lockKey("vm", ID), database.current.url);
    expect(second).not.toBeNull();

    const admin = await connection();
    const killed = await admin.query(
      `SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 1
        AND ((classid::bigint << 32) | objid::bigint) = $1::bigint AND pid <> pg_backend_pid()`,
      [PINNED[1]![2].toString()],
    );
    expect(killed.rowCount).toBe(1);
    await second!.lost;
    const third = await tryAdvisoryLock(lockKey("vm", ID), database.current.url);
    expect(third).not.toBeNull();
    await third!.release();
    await second!.release();
  });
});
