// The embedded PostgreSQL's credentials: random at the first start, kept 0600 in the data dir, the app
// connecting as a role that is no superuser and owns only its database and schema; a cluster made
// with the old fixed password gets new credentials (and its objects the app role) at its next start.
import { mkdtempSync, rmSync, statSync, unlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, describe, expect, test } from "vitest";
import { CREDENTIALS_FILE, readEmbeddedCredentials, startEmbeddedPostgres } from "../../lib/db/embedded-postgres";
import { applyMigrations } from "../../lib/db/migrate";
import { freeTcpPort } from "../support/ports";

const dataDir = mkdtempSync(path.join(tmpdir(), "sf-pgcreds-"));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

async function query<T extends pg.QueryResultRow>(url: string, sql: string): Promise<T[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<T>(sql)).rows;
  } finally {
    await c.end();
  }
}

describe("embedded PostgreSQL credentials", () => {
  test("random, 0600, and a non-superuser app role owning its schema", async () => {
    const port = await freeTcpPort();
    const server = await startEmbeddedPostgres({ dataDir, port });
    try {
      const creds = readEmbeddedCredentials(dataDir)!;
      expect(creds.superPassword).toMatch(/^[A-Za-z0-9_-]{32}$/);
      expect(creds.appPassword).not.toBe(creds.superPassword);
      expect(statSync(path.join(dataDir, CREDENTIALS_FILE)).mode & 0o777).toBe(0o600);
      expect(server.connectionString).not.toContain(":snapfleet@");
      await applyMigrations(server.connectionString);
      const [me] = await query<{ rolsuper: boolean; rolcreatedb: boolean; rolcreaterole: boolean }>(
        server.connectionString,
        "SELECT rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = current_user",
      );
      expect(me).toEqual({ rolsuper: false, rolcreatedb: false, rolcreaterole: false });
      const owners = await query<{ owner: string }>(
        server.connectionString,
        `SELECT DISTINCT tableowner AS owner FROM pg_tables WHERE schemaname = 'public'`,
      );
      expect(owners).toEqual([{ owner: "snapfleet_app" }]);
      await expect(query(server.connectionString, "CREATE DATABASE nope")).rejects.toThrow(/permission denied/);
      await expect(query(server.connectionString.replace(/:[^:@/]+@/, ":snapfleet@"), "SELECT 1")).rejects.toThrow(
        /password authentication failed/,
      );
    } finally {
      await server.stop();
    }
  });

  test("a cluster with the old fixed password is moved to random credentials", async () => {
    const port = await freeTcpPort();
    // Simulate the old layout: superuser password back to "snapfleet", no credentials file.
    const first = await startEmbeddedPostgres({ dataDir, port });
    await query(
      first.adminConnectionString,
      "ALTER TABLE \"User\" OWNER TO snapfleet; ALTER DATABASE snapfleet OWNER TO snapfleet; ALTER ROLE snapfleet PASSWORD 'snapfleet'",
    );
    await first.stop();
    unlinkSync(path.join(dataDir, CREDENTIALS_FILE));
    const second = await startEmbeddedPostgres({ dataDir, port }).catch((e: Error) => {
      throw new Error(`second start: ${e.message}`);
    });
    try {
      const creds = readEmbeddedCredentials(dataDir)!;
      expect(creds.superPassword).not.toBe("snapfleet");
      await expect(query(second.adminConnectionString.replace(/:[^:@/]+@/, ":snapfleet@"), "SELECT 1")).rejects.toThrow(
        /password authentication failed/,
      );
      const owners = await query<{ owner: string }>(
        second.connectionString,
        `SELECT DISTINCT tableowner AS owner FROM pg_tables WHERE schemaname = 'public'`,
      );
      expect(owners).toEqual([{ owner: "snapfleet_app" }]);
    } finally {
      await second.stop();
    }
  });
});
