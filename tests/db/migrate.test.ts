// The migration runner against a real PostgreSQL: the template is fully migrated, re-running applies
// nothing, and a migration edited after it was applied is refused with a message saying what to do.
import { mkdtempSync, mkdirSync, writeFileSync, cpSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { applyMigrations, MIGRATIONS_DIR, readMigrations } from "../../lib/db/migrate";
import { checkDatabase } from "../../lib/db/health";
import { useTestDatabase } from "../support/db";

const database = useTestDatabase();

describe("migrations", () => {
  it("records every migration in Prisma's table with its sha256 checksum", async () => {
    const rows = await database.current.prisma.$queryRaw<{ migration_name: string; checksum: string }[]>`
      SELECT migration_name, checksum FROM "_prisma_migrations" ORDER BY migration_name`;
    expect(rows).toEqual(readMigrations().map((m) => ({ migration_name: m.name, checksum: m.checksum })));
    expect(rows.length).toBeGreaterThan(0);
  });

  it("applies nothing the second time", async () => {
    expect(await applyMigrations(database.current.url)).toEqual([]);
  });

  it("refuses a migration that changed after it was applied", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "snapfleet-migrations-"));
    cpSync(MIGRATIONS_DIR, dir, { recursive: true });
    const first = readMigrations(dir)[0];
    writeFileSync(path.join(dir, first.name, "migration.sql"), first.sql + "\n-- edited\n");
    await expect(applyMigrations(database.current.url, dir)).rejects.toThrow(/was changed after it was applied/);
  });

  it("applies a new migration and can use what it created", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "snapfleet-migrations-"));
    cpSync(MIGRATIONS_DIR, dir, { recursive: true });
    mkdirSync(path.join(dir, "99990101000000_probe"));
    writeFileSync(path.join(dir, "99990101000000_probe", "migration.sql"), 'CREATE TABLE "Probe" (id int);');
    expect(await applyMigrations(database.current.url, dir)).toEqual(["99990101000000_probe"]);
    await database.current.prisma.$executeRawUnsafe('INSERT INTO "Probe" VALUES (1)');
  });

  it("reports the database up through the health check", async () => {
    expect(await checkDatabase()).toEqual({ up: true });
  });
});
