// Session-level PostgreSQL advisory locks on a dedicated connection, for work that outlives a
// transaction: a running snapshot job holds `job:<snapshotId>` (so crash recovery in any process can
// tell a live job from one whose process died — the lock dies with the connection), and a deletion
// holds `vm:<vmId>` while it removes a snapshot's disk state and files (so no new snapshot of that VM starts meanwhile;
// createSnapshotJob checks it with a transaction-scoped try-lock on the same key).
// Invariants: a lock is released exactly once (release() is idempotent); the connection never outlives
// its lock; keys are 64-bit hashes computed by PostgreSQL (hashtextextended), so SQL and JS agree.
import { logIgnored } from "../best-effort";
import pg from "pg";

export interface HeldLock {
  release(): Promise<void>;
  /** Resolves if the lock's connection dies before release() (the server dropped it: the lock is gone). */
  readonly lost: Promise<void>;
}

export function lockKey(kind: "job" | "vm", id: string): string {
  return `snapfleet:${kind}:${id}`;
}

/** Tries to take the lock without waiting; null when another session holds it. */
export async function tryAdvisoryLock(key: string, databaseUrl = process.env.DATABASE_URL): Promise<HeldLock | null> {
  if (!databaseUrl) throw new Error("DATABASE_URL is not set");
  const client = new pg.Client({ connectionString: databaseUrl });
  // A dropped connection releases the lock server-side: the holder learns it through `lost`.
  let markLost: () => void = () => {};
  const lost = new Promise<void>((r) => (markLost = r));
  client.on("error", () => markLost());
  client.on("end", () => markLost());
  await client.connect();
  let held = false;
  try {
    const { rows } = await client.query<{ ok: boolean }>("SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS ok", [key]);
    held = rows[0]?.ok === true;
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
      await client.query("SELECT pg_advisory_unlock(hashtextextended($1, 0))", [key]).catch(logIgnored("the lock goes with its connection, closed next"));
      await client.end().catch(logIgnored("a dropped connection has released its lock already"));
    },
  };
}
