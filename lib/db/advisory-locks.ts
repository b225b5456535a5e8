// PostgreSQL advisory locks, the one home of their keys and of the SQL that takes them:
//  - per object, `job:<id>` (a running snapshot job or restore: crash recovery in any process tells a
//    live run from one whose process died — the lock dies with its connection) and `vm:<id>` (a deletion
//    removing a snapshot's disk state; snapshot and restore admission try-lock it in their transaction);
//  - fleet-wide: snapshot/verify admission (transaction-scoped, serialises count-then-insert), the
//    discovery leader, and Prisma's migrate lock (one migrator at a time, with `prisma migrate` too).
// Variants: a session lock on a dedicated connection (tryAdvisoryLock → HeldLock), a session lock on a
// connection the caller keeps (…On), a transaction lock inside a Prisma transaction (…XactLock).
// Invariants: a key's VALUE never changes — dashboards of older versions on the same database must
// still exclude each other (tests/db/advisory-locks.test.ts pins them): object keys are 64-bit hashes
// computed by PostgreSQL, hashtextextended('snapfleet:<kind>:<id>', 0), so SQL and JS agree; the
// fleet-wide keys are fixed numbers. A HeldLock is released exactly once (release() is idempotent) and
// its connection never outlives it.
import pg from "pg";
import { logIgnored } from "../best-effort";
import { databaseUrl } from "./client";
import { Prisma } from "./generated/client";

/** One advisory lock: its 64-bit key as a bigint SQL expression (parameterised). */
export interface AdvisoryLockKey {
  /** What the lock guards, for logs. */
  readonly name: string;
  readonly sql: Prisma.Sql;
}

/** The lock of one job (`job:<id>`: a snapshot or restore run) or VM (`vm:<id>`: a deletion at work). */
export function lockKey(kind: "job" | "vm", id: string): AdvisoryLockKey {
  const text = `snapfleet:${kind}:${id}`;
  return { name: text, sql: Prisma.sql`hashtextextended(${text}, 0)` };
}

function fixedKey(name: string, value: bigint): AdvisoryLockKey {
  return { name, sql: Prisma.sql`${value.toString()}::bigint` };
}

/** Snapshot and verify admission (transaction-scoped): "snapadm" in ASCII. */
export const ADMISSION_LOCK = fixedKey("admission", 0x736e6170_61646dn);
/** The leader of periodic discovery (held on the leader's connection): "snapdisc" in ASCII. */
export const DISCOVERY_LEADER_LOCK = fixedKey("discovery leader", 0x736e6170_64697363n);
/** Prisma Migrate's own lock id, so this migrator and `prisma migrate deploy` exclude each other. */
export const PRISMA_MIGRATE_LOCK = fixedKey("prisma migrate", 72707369n);

/** What runs raw SQL inside a Prisma transaction. */
type Transaction = Pick<Prisma.TransactionClient, "$queryRaw" | "$executeRaw">;

/** Waits for the transaction-scoped lock; it is released when the transaction ends. */
export async function advisoryXactLock(tx: Transaction, key: AdvisoryLockKey): Promise<void> {
  await tx.$executeRaw`SELECT pg_advisory_xact_lock(${key.sql})`;
}

/** Tries the transaction-scoped lock without waiting: false when another session holds the key. */
export async function tryAdvisoryXactLock(tx: Transaction, key: AdvisoryLockKey): Promise<boolean> {
  const [row] = await tx.$queryRaw<Array<{ ok: boolean }>>`SELECT pg_try_advisory_xact_lock(${key.sql}) AS ok`;
  return row?.ok === true;
}

async function queryOn(client: pg.ClientBase, query: Prisma.Sql): Promise<pg.QueryResult> {
  return client.query(query.text, query.values);
}

/** Waits for the session lock on a connection the caller keeps (and closes, or unlocks). */
export async function advisoryLockOn(client: pg.ClientBase, key: AdvisoryLockKey): Promise<void> {
  await queryOn(client, Prisma.sql`SELECT pg_advisory_lock(${key.sql})`);
}

/** Tries the session lock on a connection the caller keeps: false when another session holds it. */
export async function tryAdvisoryLockOn(client: pg.ClientBase, key: AdvisoryLockKey): Promise<boolean> {
  const { rows } = await queryOn(client, Prisma.sql`SELECT pg_try_advisory_lock(${key.sql}) AS ok`);
  return (rows[0] as { ok?: boolean } | undefined)?.ok === true;
}

export async function advisoryUnlockOn(client: pg.ClientBase, key: AdvisoryLockKey): Promise<void> {
  await queryOn(client, Prisma.sql`SELECT pg_advisory_unlock(${key.sql})`);
}

/** Releases every session lock the connection holds, however often each was taken. */
export async function advisoryUnlockAllOn(client: pg.ClientBase): Promise<void> {
  await client.query("SELECT pg_advisory_unlock_all()");
}

export interface HeldLock {
  release(): Promise<void>;
  /** Resolves if the lock's connection dies before release() (the server dropped it: the lock is gone). */
  readonly lost: Promise<void>;
}

/** Tries the session lock on a connection of its own, without waiting; null when another session holds it. */
export async function tryAdvisoryLock(key: AdvisoryLockKey, url: string = databaseUrl()): Promise<HeldLock | null> {
  const client = new pg.Client({ connectionString: url });
  // A dropped connection releases the lock server-side: the holder learns it through `lost`.
  let markLost: () => void = () => {};
  const lost = new Promise<void>((r) => (markLost = r));
  client.on("error", () => markLost());
  client.on("end", () => markLost());
  await client.connect();
  let held = false;
  try {
    held = await tryAdvisoryLockOn(client, key);
  } finally {
    if (!held) await client.end().catch(logIgnored("closing a lock connection that holds nothing"));
  }
  if (!held) return null;
  let released = false;
  return {
    lost,
    async release() {
      if (released) return;
      released = true;
      client.removeAllListeners("end");
      // A connection already gone released the lock with it: nothing left to undo, nothing to report.
      await advisoryUnlockOn(client, key).catch(logIgnored("the lock goes with its connection, closed next"));
      await client.end().catch(logIgnored("a dropped connection has released its lock already"));
    },
  };
}
