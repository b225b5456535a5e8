// The Prisma client singleton over node-postgres (@prisma/adapter-pg). Lives on globalThis because
// Next bundles route handlers separately from server.ts: both must share one pool per process.
import { PrismaPg } from "@prisma/adapter-pg";
import { PrismaClient } from "./generated/client";

const g = globalThis as typeof globalThis & { __snapfleetPrisma?: PrismaClient };

export function createPrismaClient(connectionString: string): PrismaClient {
  return new PrismaClient({ adapter: new PrismaPg({ connectionString, connectionTimeoutMillis: 5_000 }) });
}

/** The process-wide client; DATABASE_URL is set by lib/db/database.ts before first use. */
export function db(): PrismaClient {
  if (!g.__snapfleetPrisma) {
    const url = process.env.DATABASE_URL;
    if (!url) throw new Error("DATABASE_URL is not set: the database was not started (see lib/db/database.ts)");
    g.__snapfleetPrisma = createPrismaClient(url);
  }
  return g.__snapfleetPrisma;
}
