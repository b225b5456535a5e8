// The Prisma client singleton over node-postgres (@prisma/adapter-pg). A process singleton because
// Next bundles route handlers separately from server.ts: both must share one pool per process.
import { PrismaPg } from "@prisma/adapter-pg";
import { configuredDatabaseUrl } from "../config";
import { processSingleton } from "../process-singleton";
import { PrismaClient } from "./generated/client";

/**
 * How long a query, or an interactive transaction, waits for a connection. A host busy writing a
 * snapshot's RAM can keep PostgreSQL from accepting one for seconds (CI saw > 5 s for a connection and
 * > 2 s, Prisma's default, for a transaction): waiting is better than failing a job or a request; a
 * database that is down still fails within this bound.
 */
const CONNECTION_TIMEOUT_MS = 15_000;
/** How long an interactive transaction may run: Prisma's default, 5 s, is short for a healthy one on a loaded host. */
const TRANSACTION_TIMEOUT_MS = 15_000;

export function createPrismaClient(connectionString: string): PrismaClient {
  return new PrismaClient({
    adapter: new PrismaPg({ connectionString, connectionTimeoutMillis: CONNECTION_TIMEOUT_MS }),
    transactionOptions: { maxWait: CONNECTION_TIMEOUT_MS, timeout: TRANSACTION_TIMEOUT_MS },
  });
}

/** The database this process uses, once its start has brought it up (a process singleton, like the client). */
const started = () => processSingleton("__snapfleetDatabaseUrl", (): { url?: string } => ({}));

/** Names the database of this process: lib/db/database.ts after startDatabase, the CLI's user commands. */
export function useDatabase(url: string): void {
  started().url = url;
}

/** The database URL: the one a start brought up, else DATABASE_URL (lib/config.ts). */
export function databaseUrl(): string {
  const url = started().url ?? configuredDatabaseUrl();
  if (!url) throw new Error("DATABASE_URL is not set: the database was not started (see lib/db/database.ts)");
  return url;
}

/** The process-wide client, on the database named above at its first use. */
export function db(): PrismaClient {
  return processSingleton("__snapfleetPrisma", () => createPrismaClient(databaseUrl()));
}
