// Vitest global setup: one PostgreSQL for the whole run — an embedded PostgreSQL 17 in a temp dir, or
// the server at DATABASE_URL — with a migrated template database. Each test file then gets its own
// database cloned from the template (tests/support/db.ts), so files run in parallel without sharing rows.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import type { TestProject } from "vitest/node";
import { startEmbeddedPostgres } from "../../lib/db/embedded-postgres";
import { applyMigrations } from "../../lib/db/migrate";

declare module "vitest" {
  export interface ProvidedContext {
    adminDatabaseUrl: string;
    templateDatabase: string;
  }
}

const TEMPLATE = "snapfleet_test_template";
// SSH-host tests run QEMU as a dedicated unprivileged user (tests/fleet/host-user.ts); QEMU < 8.1 then
// needs unprivileged userfaultfd for background snapshots (README "Hosts"). Set once for the whole run —
// test files run in parallel, so none may put it back while another still needs it — and put back at the end.
const UFFD_SYSCTL = "/proc/sys/vm/unprivileged_userfaultfd";

function allowUnprivilegedUserfaultfd(): () => void {
  let before: string;
  try {
    before = readFileSync(UFFD_SYSCTL, "utf8").trim();
  } catch {
    return () => {}; // no such knob (older kernel): nothing to set, nothing to put back
  }
  if (before === "1" || process.getuid?.() !== 0) return () => {};
  writeFileSync(UFFD_SYSCTL, "1");
  return () => writeFileSync(UFFD_SYSCTL, before);
}

export default async function setup(project: TestProject) {
  const restoreUffd = allowUnprivilegedUserfaultfd();
  let adminUrl = process.env.DATABASE_URL;
  let stop = async () => {};
  let dataDir: string | undefined;
  if (!adminUrl) {
    dataDir = mkdtempSync(path.join(tmpdir(), "snapfleet-test-pg-"));
    const port = 55000 + (process.pid % 5000);
    const server = await startEmbeddedPostgres({ dataDir, port, disposable: true });
    adminUrl = server.adminConnectionString;
    stop = server.stop;
  }
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${TEMPLATE} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${TEMPLATE}`);
  await admin.end();
  const templateUrl = new URL(adminUrl);
  templateUrl.pathname = `/${TEMPLATE}`;
  await applyMigrations(templateUrl.toString());

  project.provide("adminDatabaseUrl", adminUrl);
  project.provide("templateDatabase", TEMPLATE);

  return async () => {
    await stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    restoreUffd();
  };
}
