// A fresh database per test file, cloned from the migrated template made by global-setup.ts.
// `useTestDatabase()` in a file's top level creates it before the file's tests, points DATABASE_URL and
// the Prisma singleton at it, and drops it afterwards.
import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, inject } from "vitest";
import { createPrismaClient } from "../../lib/db/client";
import type { PrismaClient } from "../../lib/db/generated/client";

export interface TestDatabase {
  url: string;
  prisma: PrismaClient;
}

export async function createTestDatabase(): Promise<TestDatabase & { drop(): Promise<void> }> {
  const adminUrl = inject("adminDatabaseUrl");
  const name = `snapfleet_test_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name} TEMPLATE ${inject("templateDatabase")}`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const prisma = createPrismaClient(url.toString());
  return {
    url: url.toString(),
    prisma,
    async drop() {
      await prisma.$disconnect();
      const a = new pg.Client({ connectionString: adminUrl });
      await a.connect();
      await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).finally(() => a.end());
    },
  };
}

/** Registers before/after hooks; read `.current` inside tests. */
export function useTestDatabase(): { current: TestDatabase } {
  const holder = {} as { current: TestDatabase };
  let drop: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    const created = await createTestDatabase();
    drop = created.drop;
    holder.current = created;
    process.env.DATABASE_URL = created.url;
    (globalThis as { __snapfleetPrisma?: PrismaClient }).__snapfleetPrisma = created.prisma;
  });
  afterAll(async () => {
    (globalThis as { __snapfleetPrisma?: PrismaClient }).__snapfleetPrisma = undefined;
    await drop?.();
  });
  return holder;
}
