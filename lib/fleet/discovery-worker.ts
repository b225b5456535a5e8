// Periodic discovery of every host (default every 30 s; SNAPFLEET_DISCOVERY_INTERVAL_MS, lib/config.ts), run by ONE
// process when several share the database: the process holding a session-level PostgreSQL advisory
// lock (pg_try_advisory_lock on a dedicated connection) is the leader. If its connection drops, the
// server releases the lock and another process takes over on its next tick.
// Invariants: runs never overlap (the next tick is armed only after a run ends); the loop never throws
// (errors are logged and the next tick comes anyway); the first run starts at once, so VM sessions and
// live state are back right after a restart. Timers are injected for tests.
import { logIgnored } from "../best-effort";
import pg from "pg";
import { DEFAULT_DISCOVERY_INTERVAL_MS } from "../config";
import { advisoryUnlockAllOn, DISCOVERY_LEADER_LOCK, tryAdvisoryLockOn } from "../db/advisory-locks";
import type { Logger } from "../logger";
import { discoverAllHosts, type DiscoveryResult } from "./discovery";
import { closeAllVmSessions } from "./sessions";
import { closeAllSshConnections } from "./ssh";

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const realTimers: Timers = {
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export interface DiscoveryWorkerOptions {
  databaseUrl: string;
  log: Logger;
  intervalMs?: number;
  timers?: Timers;
  discover?: () => Promise<DiscoveryResult[]>;
}

export interface DiscoveryWorker {
  /** Runs one tick now (if none is running): true when this process was the leader and ran it. */
  tick(): Promise<boolean>;
  readonly isLeader: boolean;
  stop(): Promise<void>;
}

export function startDiscoveryWorker(opts: DiscoveryWorkerOptions): DiscoveryWorker {
  const intervalMs = opts.intervalMs ?? DEFAULT_DISCOVERY_INTERVAL_MS;
  const timers = opts.timers ?? realTimers;
  const discover = opts.discover ?? discoverAllHosts;
  const log = opts.log;
  let lockClient: pg.Client | undefined;
  let leader = false;
  let stopped = false;
  let timer: unknown;
  let current: Promise<boolean> | undefined;

  async function ensureLeadership(): Promise<boolean> {
    if (leader && lockClient) return true;
    if (!lockClient) {
      const client = new pg.Client({ connectionString: opts.databaseUrl });
      client.on("error", (err) => {
        log.warn({ err }, "discovery lock connection lost; leadership released");
        if (lockClient === client) {
          lockClient = undefined;
          leader = false;
        }
        void client.end().catch(logIgnored("closing a lost leadership connection"));
      });
      await client.connect();
      lockClient = client;
    }
    const won = await tryAdvisoryLockOn(lockClient, DISCOVERY_LEADER_LOCK);
    if (won && !leader) log.info("this process leads periodic discovery");
    leader = won;
    return won;
  }

  async function runOnce(): Promise<boolean> {
    try {
      if (!(await ensureLeadership())) return false;
      const started = Date.now();
      const results = await discover();
      log.debug({ hosts: results.length, ms: Date.now() - started }, "periodic discovery done");
      return true;
    } catch (err) {
      log.warn({ err }, "periodic discovery failed; next attempt at the next interval");
      return false;
    }
  }

  function arm(delay: number): void {
    if (stopped) return;
    timer = timers.setTimeout(() => {
      timer = undefined;
      void worker.tick();
    }, delay);
  }

  const worker: DiscoveryWorker = {
    tick() {
      if (current) return current;
      if (timer !== undefined) {
        timers.clearTimeout(timer);
        timer = undefined;
      }
      current = runOnce().finally(() => {
        current = undefined;
        arm(intervalMs);
      });
      return current;
    },
    get isLeader() {
      return leader;
    },
    async stop() {
      stopped = true;
      if (timer !== undefined) timers.clearTimeout(timer);
      await current?.catch(logIgnored("a discovery pass logs its own failure"));
      const client = lockClient;
      lockClient = undefined;
      leader = false;
      if (client) {
        client.removeAllListeners("error");
        client.on("error", () => {});
        await advisoryUnlockAllOn(client).catch(logIgnored("the locks go with the connection, closed next"));
        await client.end().catch(logIgnored("a dropped connection is closed already"));
      }
    },
  };
  arm(0);
  return worker;
}

/** Background work of the fleet module for lib/workers.ts: periodic discovery; on stop, every VM session. */
export function startFleetWorkers(ctx: {
  databaseUrl: string;
  log: Logger;
  discoveryIntervalMs: number;
}): () => Promise<void> {
  const worker = startDiscoveryWorker({
    databaseUrl: ctx.databaseUrl,
    log: ctx.log.child({ worker: "discovery" }),
    intervalMs: ctx.discoveryIntervalMs,
  });
  return async () => {
    await worker.stop();
    await closeAllVmSessions();
    await closeAllSshConnections();
  };
}
