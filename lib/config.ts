// Process configuration: the ONE reader of the environment. Every variable Snapfleet reads — the
// dashboard's, the CLI's, the local tools' — is declared once in `envSchema` with its zod check, its
// default and its description; `loadConfig()` parses them all at once and fails with one error that
// names each bad variable and what it allows. The README's table is generated from the same schema
// (`npm run docs:config`, lib/config-docs.ts; tests/config/config.test.ts fails when they differ).
// Invariants: no other module reads or writes process.env (the database URL a start brings up is
// handed on explicitly: lib/db/client.ts useDatabase); an empty variable counts as unset; a secret's
// value (DATABASE_URL, SNAPFLEET_TOKEN) never appears in an error message.
import os from "node:os";
import path from "node:path";
import { z } from "zod";
import pkg from "../package.json" with { type: "json" };

/** An environment to read: process.env, or one a test or a child process is given. */
export type Environment = Record<string, string | undefined>;

/** What the README says about a variable (generated into its table by lib/config-docs.ts). */
export type VariableDoc = {
  /** Who reads it. */
  usedBy: "dashboard" | "CLI" | "dashboard, CLI";
  /** The default as the README shows it; none: unset means off (or none). */
  default?: string;
  /** One Markdown sentence. */
  description: string;
  /** The value may carry a password or token: error messages leave it out. */
  secret?: boolean;
};

/** A variable: "" counts as unset, `inner` parses the text, `doc` goes to the README. */
function variable<T extends z.ZodType>(inner: T, doc: VariableDoc) {
  return z.preprocess((v) => (v === "" ? undefined : v), inner).meta(doc);
}

/** A whole number in [min, max]; `allowed` completes "<NAME> …" in the error. */
function wholeNumber(min: number, max: number, allowed: string) {
  return z.string().transform((raw, ctx) => {
    const n = Number(raw);
    if (Number.isInteger(n) && n >= min && n <= max) return n;
    ctx.addIssue({ code: "custom", message: allowed });
    return z.NEVER;
  });
}

const port = () => wholeNumber(1, 65535, "must be a port number (1–65535)");

/** Comma-separated items, blanks dropped; each must pass `ok`. */
function list(ok: (item: string) => boolean, allowed: string) {
  return z
    .string()
    .transform((raw) =>
      raw
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean),
    )
    .refine((items) => items.every(ok), { message: allowed });
}

const text = (allowed: string) => z.string().trim().min(1, { message: allowed });

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export const DEFAULT_HOST_ROOTS = ["/var/lib/snapfleet", "/run/snapfleet", "/etc/snapfleet"];
export const DEFAULT_DISCOVERY_INTERVAL_MS = 30_000;
const HOST_NAME = /^[A-Za-z0-9._:%[\]-]+$/;

export const envSchema = z.object({
  PORT: variable(port().default(3000), {
    usedBy: "dashboard",
    default: "3000",
    description: "HTTP port of the dashboard",
  }),
  HOST: variable(
    z
      .string()
      .regex(HOST_NAME, { message: "must be an address or name to listen on, e.g. 127.0.0.1, 0.0.0.0 or ::" })
      .default("127.0.0.1"),
    {
      usedBy: "dashboard",
      default: "127.0.0.1",
      description:
        "address to listen on; anything else is an explicit choice, see [Users & security](#users--security)",
    },
  ),
  SNAPFLEET_ALLOWED_HOSTS: variable(
    list((h) => HOST_NAME.test(h), "must be comma-separated host names (no ports, paths or spaces)").default([]),
    {
      usedBy: "dashboard",
      description:
        "extra names accepted in the `Host` header (comma-separated), besides `localhost`, `127.0.0.1`, `[::1]` and `HOST`",
    },
  ),
  SNAPFLEET_TLS_CERT: variable(text("must be the path of a PEM certificate file").optional(), {
    usedBy: "dashboard",
    description:
      "PEM certificate: serve HTTPS (and `wss:`) directly, cookies become `Secure`; needs `SNAPFLEET_TLS_KEY`",
  }),
  SNAPFLEET_TLS_KEY: variable(text("must be the path of a PEM private key file").optional(), {
    usedBy: "dashboard",
    description: "PEM private key of `SNAPFLEET_TLS_CERT` (both or neither)",
  }),
  SNAPFLEET_SECURE_COOKIES: variable(
    z
      .enum(["1", "0", "true", "false"], {
        message: "must be 1 (or true) to mark session cookies Secure, 0 (or false) not to",
      })
      .transform((v) => v === "1" || v === "true")
      .optional(),
    {
      usedBy: "dashboard",
      description:
        "`1` when TLS ends in a proxy in front, so session cookies are `Secure` (on by itself with `SNAPFLEET_TLS_CERT`)",
    },
  ),
  SNAPFLEET_HOST_ROOTS: variable(
    list(
      (p) => path.isAbsolute(p),
      "must be comma-separated absolute directories, e.g. /var/lib/snapfleet,/run/snapfleet",
    )
      .refine((roots) => roots.length > 0, { message: "must name at least one absolute directory" })
      .default(DEFAULT_HOST_ROOTS),
    {
      usedBy: "dashboard",
      default: DEFAULT_HOST_ROOTS.join(","),
      description: "the only directories hosts' socket dirs, snapshot dirs, keys and certificates may be in",
    },
  ),
  DATABASE_URL: variable(
    z
      .string()
      .regex(/^postgres(ql)?:\/\/\S+$/, {
        message: "must be a PostgreSQL URL, postgresql://user:password@host:port/database",
      })
      .optional(),
    {
      usedBy: "dashboard, CLI",
      description: "PostgreSQL to use; when unset, an embedded PostgreSQL runs under the data dir",
      secret: true,
    },
  ),
  SNAPFLEET_DATA_DIR: variable(text("must be a directory").optional(), {
    usedBy: "dashboard, CLI",
    default: "./.snapfleet",
    description: "where the embedded PostgreSQL keeps its data (relative: to the working directory)",
  }),
  SNAPFLEET_PG_PORT: variable(port().default(54320), {
    usedBy: "dashboard, CLI",
    default: "54320",
    description: "port of the embedded PostgreSQL (loopback only)",
  }),
  SNAPFLEET_DISCOVERY_INTERVAL_MS: variable(
    wholeNumber(1000, 86_400_000, "must be an integer ≥ 1000 (milliseconds, at most one day)").default(
      DEFAULT_DISCOVERY_INTERVAL_MS,
    ),
    {
      usedBy: "dashboard",
      default: String(DEFAULT_DISCOVERY_INTERVAL_MS),
      description: "how often every host's VMs are re-discovered (one process leads when several share the database)",
    },
  ),
  SNAPFLEET_METRICS_PORT: variable(port().optional(), {
    usedBy: "dashboard",
    description:
      "also serve `/metrics` without a token on this loopback-only port ([docs/metrics.md](docs/metrics.md))",
  }),
  SNAPFLEET_QUIESCE_TIMEOUT_MS: variable(
    wholeNumber(100, 60_000, "must be a whole number of milliseconds from 100 to 60000").default(10_000),
    {
      usedBy: "dashboard",
      default: "10000",
      description: "hard bound on a guest-agent filesystem freeze ([docs/quiesce.md](docs/quiesce.md))",
    },
  ),
  SNAPFLEET_QEMU_IMG: variable(text("must be a program name or path").default("qemu-img"), {
    usedBy: "dashboard",
    default: "qemu-img",
    description: "`qemu-img` program for restores on local hosts (found in `PATH` unless a path)",
  }),
  SNAPFLEET_QEMU_NBD: variable(text("must be a program name or path").default("qemu-nbd"), {
    usedBy: "dashboard",
    default: "qemu-nbd",
    description: "`qemu-nbd` program for verifies on local hosts (found in `PATH` unless a path)",
  }),
  LOG_LEVEL: variable(z.enum(LOG_LEVELS, { message: `must be one of ${LOG_LEVELS.join(", ")}` }).default("info"), {
    usedBy: "dashboard",
    default: "info",
    description: "pino log level (`debug` shows QMP traffic)",
  }),
  NODE_ENV: variable(
    z.enum(["production", "development", "test"], { message: "must be production, development or test" }).optional(),
    {
      usedBy: "dashboard",
      description: "`production` serves the built dashboard (`npm start` sets it); otherwise Next.js runs in dev mode",
    },
  ),
  SNAPFLEET_URL: variable(
    z
      .url({
        protocol: /^https?$/,
        message: "must be the dashboard's http:// or https:// URL, e.g. http://127.0.0.1:3000",
      })
      .optional(),
    {
      usedBy: "CLI",
      description:
        "the dashboard the CLI talks to, instead of the one `snapfleet login` stored ([docs/cli.md](docs/cli.md))",
    },
  ),
  SNAPFLEET_TOKEN: variable(z.string().trim().optional(), {
    usedBy: "CLI",
    description: "API token the CLI sends, instead of the stored credential",
    secret: true,
  }),
  XDG_CONFIG_HOME: variable(text("must be a directory").optional(), {
    usedBy: "CLI",
    default: "`$HOME/.config`",
    description: "the CLI keeps its credentials in `$XDG_CONFIG_HOME/snapfleet/credentials.json`",
  }),
  HOME: variable(text("must be a directory").optional(), {
    usedBy: "CLI",
    default: "the user's home",
    description: "home directory, for the default of `XDG_CONFIG_HOME`",
  }),
});

export type EnvVariable = keyof typeof envSchema.shape;

export interface Config {
  port: number;
  host: string;
  dataDir: string;
  databaseUrl: string | undefined;
  embeddedPgPort: number;
  logLevel: (typeof LOG_LEVELS)[number];
  /** NODE_ENV is not "production": Next.js runs in dev mode. */
  dev: boolean;
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
  /** Where host definitions may point (lib/fleet/host-paths.ts). */
  hostRoots: string[];
  discoveryIntervalMs: number;
  /** Hard bound of a guest-agent freeze (lib/snapshots/quiesce.ts). */
  quiesceTimeoutMs: number;
  /** Programs run on local hosts by restore and verify. */
  qemuImg: string;
  qemuNbd: string;
  cli: {
    /** SNAPFLEET_URL as given (the CLI normalizes it). */
    url: string | undefined;
    token: string | undefined;
    credentialsFile: string;
  };
}

/** One or more invalid variables; the message names each and what it allows. */
export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(problems.join("; "));
    this.name = "ConfigError";
    this.problems = problems;
  }
}

function problemText(name: string, raw: unknown, message: string): string {
  const doc = envSchema.shape[name as EnvVariable]?.meta() as VariableDoc | undefined;
  return doc?.secret || raw === undefined ? `${name} ${message}` : `${name} ${message}, got "${String(raw)}"`;
}

function problemsOf(error: z.ZodError, env: Environment): string[] {
  return error.issues.map((issue) => {
    const name = String(issue.path[0] ?? "configuration");
    return problemText(name, env[name], issue.message);
  });
}

export function readVersion(): string {
  return pkg.version;
}

/** This process in the rows it claims or admits (schedule runs, snapshot slots): "hostname:pid". */
export const PROCESS_ID = `${os.hostname()}:${process.pid}`;

/** Parses every variable of `env` (default: this process's environment); throws ConfigError. */
export function loadConfig(env: Environment = process.env): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) throw new ConfigError(problemsOf(parsed.error, env));
  const v = parsed.data;
  if (Boolean(v.SNAPFLEET_TLS_CERT) !== Boolean(v.SNAPFLEET_TLS_KEY)) {
    throw new ConfigError(["SNAPFLEET_TLS_CERT and SNAPFLEET_TLS_KEY must be set together (HTTPS needs both)"]);
  }
  const configHome = v.XDG_CONFIG_HOME ?? path.join(v.HOME ?? os.homedir(), ".config");
  return {
    port: v.PORT,
    // Loopback by default: binding elsewhere is an explicit choice (README: Users & security).
    host: v.HOST,
    dataDir: path.resolve(v.SNAPFLEET_DATA_DIR ?? ".snapfleet"),
    databaseUrl: v.DATABASE_URL,
    embeddedPgPort: v.SNAPFLEET_PG_PORT,
    logLevel: v.LOG_LEVEL,
    dev: v.NODE_ENV !== "production",
    version: readVersion(),
    allowedHosts: v.SNAPFLEET_ALLOWED_HOSTS,
    tlsCertPath: v.SNAPFLEET_TLS_CERT,
    tlsKeyPath: v.SNAPFLEET_TLS_KEY,
    secureCookies: v.SNAPFLEET_SECURE_COOKIES === true || Boolean(v.SNAPFLEET_TLS_CERT),
    metricsPort: v.SNAPFLEET_METRICS_PORT,
    hostRoots: v.SNAPFLEET_HOST_ROOTS,
    discoveryIntervalMs: v.SNAPFLEET_DISCOVERY_INTERVAL_MS,
    quiesceTimeoutMs: v.SNAPFLEET_QUIESCE_TIMEOUT_MS,
    qemuImg: v.SNAPFLEET_QEMU_IMG,
    qemuNbd: v.SNAPFLEET_QEMU_NBD,
    cli: {
      url: v.SNAPFLEET_URL,
      token: v.SNAPFLEET_TOKEN || undefined,
      credentialsFile: path.join(configHome, "snapfleet", "credentials.json"),
    },
  };
}

/** One variable, parsed by its schema at the time of the call (knobs read at each use, which tests set). */
export function configValue<K extends EnvVariable>(name: K): z.output<(typeof envSchema.shape)[K]> {
  const parsed = envSchema.shape[name].safeParse(process.env[name]);
  if (!parsed.success) throw new ConfigError([problemText(name, process.env[name], parsed.error.issues[0]!.message)]);
  return parsed.data as z.output<(typeof envSchema.shape)[K]>;
}

/** SNAPFLEET_HOST_ROOTS, read at each check. */
export function hostPathRoots(): string[] {
  return configValue("SNAPFLEET_HOST_ROOTS");
}

/** SNAPFLEET_QUIESCE_TIMEOUT_MS, read at each snapshot. */
export function quiesceTimeoutMs(): number {
  return configValue("SNAPFLEET_QUIESCE_TIMEOUT_MS");
}

/** DATABASE_URL, read at the call (lib/db/client.ts, when no start named the database). */
export function configuredDatabaseUrl(): string | undefined {
  return configValue("DATABASE_URL");
}

/**
 * The process logger's level, read when the logger is made (at import, before a start can report
 * anything): an invalid LOG_LEVEL falls back to info here and fails the start in loadConfig().
 */
export function configuredLogLevel(): Config["logLevel"] {
  const parsed = envSchema.shape.LOG_LEVEL.safeParse(process.env.LOG_LEVEL);
  return parsed.success ? parsed.data : "info";
}

/**
 * The environment a child process inherits as is (Next.js, tsx, tools on local hosts): passed on,
 * never interpreted here. `only` keeps just those names (a QEMU started for a VM gets no secrets).
 */
export function inheritedEnvironment(only?: readonly string[], extra: Environment = {}): NodeJS.ProcessEnv {
  const out: Environment = {};
  for (const [k, val] of Object.entries(process.env))
    if (val !== undefined && (!only || only.includes(k))) out[k] = val;
  for (const [k, val] of Object.entries(extra)) if (val !== undefined) out[k] = val;
  return out as NodeJS.ProcessEnv; // Next.js's types declare NODE_ENV required: a child may well lack it
}
