// Developer tool: writes a new prisma/migrations/<timestamp>_<name>/migration.sql holding the SQL that
// takes the database from the current migrations to prisma/schema.prisma. It drives Prisma's own
// WebAssembly schema engine (the CLI's native engine cannot be downloaded here) against a scratch
// embedded PostgreSQL 17 where the existing migrations are applied first.
//   npm run db:create-migration -- <name> [--debug]     (--debug: the engine's own log on stderr)
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { PrismaPg } from "@prisma/adapter-pg";
import { bindMigrationAwareSqlAdapterFactory } from "@prisma/driver-adapter-utils";
import { applyMigrations, readMigrations } from "../lib/db/migrate";
import { startEmbeddedPostgres } from "../lib/db/embedded-postgres";
import { tmpdir } from "node:os";
import { mkdtempSync, rmSync } from "node:fs";

const args = process.argv.slice(2);
const debug = args.includes("--debug");
const name = (args.find((a) => !a.startsWith("--")) ?? "").replace(/[^a-z0-9_]+/gi, "_");
if (!name) {
  console.error("usage: npm run db:create-migration -- <name> [--debug]");
  process.exit(2);
}

async function loadSchemaEngine() {
  // The package targets bundlers (`import * as wasm from "….wasm"`): instantiate the module by hand.
  const require = createRequire(import.meta.url);
  const dir = path.dirname(require.resolve("@prisma/schema-engine-wasm"));
  const bg = await import(path.join(dir, "schema_engine_bg.js"));
  const bytes = readFileSync(path.join(dir, "schema_engine_bg.wasm"));
  const { instance } = await WebAssembly.instantiate(bytes, { "./schema_engine_bg.js": bg });
  bg.__wbg_set_wasm(instance.exports);
  (instance.exports as { __wbindgen_start?: () => void }).__wbindgen_start?.();
  return bg;
}

const dataDir = mkdtempSync(path.join(tmpdir(), "snapfleet-migration-"));
const pg = await startEmbeddedPostgres({ dataDir, port: 54329 });
try {
  const url = pg.connectionString;
  const engineModule = await loadSchemaEngine();
  const schema = readFileSync("prisma/schema.prisma", "utf8");
  const factory = bindMigrationAwareSqlAdapterFactory(new PrismaPg({ connectionString: url }));
  const engine = await engineModule.SchemaEngine.new(
    { datamodels: [["schema.prisma", schema]] },
    (msg: string) => debug && console.error(msg),
    factory,
  );
  const existing = readMigrations();
  // The wasm engine takes a shadow database only through a factory this script cannot provide yet, so
  // it diffs from the schema the migrations produce: introspected from the scratch database.
  let from: { tag: "empty" } | { tag: "schemaDatamodel"; files: { path: string; content: string }[] } = {
    tag: "empty",
  };
  if (existing.length > 0) {
    await applyMigrations(url);
    const introspected = await engine.introspect({
      schema: { files: [{ path: "schema.prisma", content: schema }] },
      baseDirectoryPath: process.cwd(),
      force: true,
      compositeTypeDepth: 0,
      namespaces: null,
    });
    from = { tag: "schemaDatamodel", files: introspected.schema.files };
  }
  const result = await engine.diff({
    from,
    to: { tag: "schemaDatamodel", files: [{ path: "schema.prisma", content: schema }] },
    script: true,
    exitCode: null,
    filters: { externalTables: [], externalEnums: [] },
  });
  const sql = (result.stdout ?? "").trim();
  if (!sql || /^-- This is an empty migration/.test(sql)) {
    console.log("prisma/schema.prisma matches the migrations: nothing to write");
  } else {
    const stamp = new Date().toISOString().replace(/[-:T]/g, "").slice(0, 14);
    const dir = path.join("prisma/migrations", `${stamp}_${name}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, "migration.sql"), sql + "\n");
    console.log(`wrote ${dir}/migration.sql`);
  }
} catch (err) {
  console.error(err);
  process.exitCode = 1;
} finally {
  await pg.stop();
  rmSync(dataDir, { recursive: true, force: true });
  // The engine keeps its pool open; nothing else is pending.
  process.exit(process.exitCode ?? 0);
}
