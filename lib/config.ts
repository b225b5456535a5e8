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
  /** Extra Host header names accepted besides localhost, loopback and the bind address (DNS rebinding). */
  allowedHosts: string[];
  /** Serve HTTPS directly with these PEM files (both or neither). */
  tlsCertPath: string | undefined;
  tlsKeyPath: string | undefined;
  /** Mark session cookies Secure (on by itself when serving TLS; set it when TLS ends in a proxy in front). */
  secureCookies: boolean;
  /** Also serve GET /metrics without a token on 127.0.0.1:<port> (lib/metrics/loopback-server.ts). */
  metricsPort: number | undefined;
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
    // Loopback by default: binding elsewhere is an explicit choice (README: Users & security).
    host: process.env.HOST || "127.0.0.1",
    dataDir: path.resolve(process.env.SNAPFLEET_DATA_DIR || path.join(process.cwd(), ".snapfleet")),
    databaseUrl: process.env.DATABASE_URL || undefined,
    embeddedPgPort: intFromEnv("SNAPFLEET_PG_PORT", 54320),
    logLevel: process.env.LOG_LEVEL || "info",
    version: readVersion(),
    allowedHosts: listFromEnv("SNAPFLEET_ALLOWED_HOSTS"),
    tlsCertPath: process.env.SNAPFLEET_TLS_CERT || undefined,
    tlsKeyPath: process.env.SNAPFLEET_TLS_KEY || undefined,
    secureCookies: process.env.SNAPFLEET_SECURE_COOKIES === "1" || Boolean(process.env.SNAPFLEET_TLS_CERT),
    metricsPort: process.env.SNAPFLEET_METRICS_PORT ? intFromEnv("SNAPFLEET_METRICS_PORT", 0) : undefined,
  };
}

function listFromEnv(name: string): string[] {
  return (process.env[name] ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
}

/**
 * Where host definitions may point (QMP socket dirs, snapshot dirs, key and certificate files):
 * SNAPFLEET_HOST_ROOTS, comma-separated absolute directories, set by whoever runs the dashboard — not
 * editable from the browser, so a stolen admin session cannot widen it. Read at each check so tests
 * can set it. Default: /var/lib/snapfleet, /run/snapfleet (QMP sockets), /etc/snapfleet (keys).
 */
export const DEFAULT_HOST_ROOTS = ["/var/lib/snapfleet", "/run/snapfleet", "/etc/snapfleet"];
export function hostPathRoots(): string[] {
  const roots = listFromEnv("SNAPFLEET_HOST_ROOTS");
  return roots.length ? roots : DEFAULT_HOST_ROOTS;
}

/**
 * The hard bound of a snapshot's guest-agent freeze (lib/snapshots/quiesce.ts), in ms:
 * SNAPFLEET_QUIESCE_TIMEOUT_MS, 100–60000, default 10000. Read at each snapshot so tests can set it.
 */
export function quiesceTimeoutMs(): number {
  const raw = process.env.SNAPFLEET_QUIESCE_TIMEOUT_MS;
  if (raw === undefined || raw === "") return 10_000;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 100 || n > 60_000) throw new Error(`SNAPFLEET_QUIESCE_TIMEOUT_MS must be a whole number of milliseconds from 100 to 60000, got "${raw}"`);
  return n;
}
