// Process configuration, read once from the environment. Every knob the README documents lives here,
// with its default; nothing else in lib/ reads process.env directly.
import os from "node:os";
import path from "node:path";
import pkg from "../package.json" with { type: "json" };

export interface Config {
  port: number;
  host: string;
  dataDir: string;
  databaseUrl: string | undefined;
  embeddedPgPort: number;
  logLevel: string;
  version: string;
}


function intFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0 || n > 65535) throw new Error(`${name} must be a port number, got "${raw}"`);
  return n;
}

export function readVersion(): string {
  return pkg.version;
}

/** This process in the rows it claims or admits (schedule runs, snapshot slots): "hostname:pid". */
export const PROCESS_ID = `${os.hostname()}:${process.pid}`;

export function loadConfig(): Config {
  return {
    port: intFromEnv("PORT", 3000),
    host: process.env.HOST || "0.0.0.0",
    dataDir: path.resolve(process.env.SNAPFLEET_DATA_DIR || path.join(process.cwd(), ".snapfleet")),
    databaseUrl: process.env.DATABASE_URL || undefined,
    embeddedPgPort: intFromEnv("SNAPFLEET_PG_PORT", 54320),
    logLevel: process.env.LOG_LEVEL || "info",
    version: readVersion(),
  };
}
