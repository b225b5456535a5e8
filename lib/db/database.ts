// Brings the database up for this process: the server at DATABASE_URL when given, otherwise a real
// embedded PostgreSQL under the data directory; then applies pending migrations. Afterwards
// lib/db/client.ts names the database (useDatabase, a process singleton), so every module — and Next's
// route bundles, which load their own copy of the modules — reaches it.
import path from "node:path";
import type { Config } from "../config";
import type { Logger } from "../logger";
import { useDatabase } from "./client";
import { startEmbeddedPostgres } from "./embedded-postgres";
import { applyMigrations } from "./migrate";

export interface Database {
  url: string;
  embedded: boolean;
  stop(): Promise<void>;
}

export async function startDatabase(config: Config, log: Logger): Promise<Database> {
  let url = config.databaseUrl;
  let stop = async () => {};
  if (!url) {
    const dataDir = config.dataDir;
    log.info({ dataDir, port: config.embeddedPgPort }, "no DATABASE_URL: starting embedded PostgreSQL");
    const pg = await startEmbeddedPostgres({
      dataDir,
      port: config.embeddedPgPort,
      log: (line) => log.debug({ component: "postgres" }, line),
      notice: (line) => log.warn({ component: "postgres" }, line),
    });
    url = pg.connectionString;
    stop = pg.stop;
    log.info({ dir: path.join(dataDir, "postgres") }, "embedded PostgreSQL is up");
  }
  let applied: string[];
  try {
    applied = await applyMigrations(url);
  } catch (err) {
    await stop().catch((e) => log.error({ err: e }, "stopping PostgreSQL failed")); // leave no postmaster behind
    throw err;
  }
  if (applied.length) log.info({ applied }, "applied database migrations");
  useDatabase(url);
  return { url, embedded: !config.databaseUrl, stop };
}
