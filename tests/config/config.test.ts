// The one configuration (lib/config.ts): what an operator gets for each environment — the defaults, every
// variable parsed, one clear error naming each bad variable and what it allows (never a secret's value),
// the real entry points (`npm start`'s launcher, server.ts, the CLI) stopping on it; the README table
// generated from the schema; and no module but lib/config.ts touching process.env.
import { spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, test, vi } from "vitest";
import { main } from "../../lib/cli/main";
import {
  ConfigError,
  configuredLogLevel,
  DEFAULT_HOST_ROOTS,
  envSchema,
  hostPathRoots,
  loadConfig,
  quiesceTimeoutMs,
} from "../../lib/config";
import { ENV_TABLE_END, ENV_TABLE_START, renderEnvTable, withEnvTable } from "../../lib/config-docs";

const REPO = path.resolve(import.meta.dirname, "../..");

/** The message loadConfig throws for `env`; fails the test when it does not throw a ConfigError. */
function problem(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(env)}`);
}

afterEach(() => {
  vi.unstubAllEnvs();
});

describe("loadConfig", () => {
  test("an empty environment gives the documented defaults", () => {
    const c = loadConfig({ HOME: "/home/op" });
    expect(c).toMatchObject({
      port: 3000,
      host: "127.0.0.1",
      dataDir: path.resolve(".snapfleet"),
      databaseUrl: undefined,
      embeddedPgPort: 54320,
      logLevel: "info",
      dev: true,
      allowedHosts: [],
      tlsCertPath: undefined,
      tlsKeyPath: undefined,
      secureCookies: false,
      metricsPort: undefined,
      hostRoots: DEFAULT_HOST_ROOTS,
      discoveryIntervalMs: 30_000,
      quiesceTimeoutMs: 10_000,
      qemuImg: "qemu-img",
      qemuNbd: "qemu-nbd",
      cli: { url: undefined, token: undefined, credentialsFile: "/home/op/.config/snapfleet/credentials.json" },
    });
  });

  test("every variable set is parsed into its knob", () => {
    const c = loadConfig({
      PORT: "8080",
      HOST: "0.0.0.0",
      SNAPFLEET_ALLOWED_HOSTS: " snapfleet.example.org, ops.example.org ,",
      SNAPFLEET_TLS_CERT: "/etc/snapfleet/tls.crt",
      SNAPFLEET_TLS_KEY: "/etc/snapfleet/tls.key",
      SNAPFLEET_HOST_ROOTS: "/srv/vms,/run/vms",
      DATABASE_URL: "postgresql://app:pw@db:5432/snapfleet",
      SNAPFLEET_DATA_DIR: "/var/lib/snapfleet/data",
      SNAPFLEET_PG_PORT: "55000",
      SNAPFLEET_DISCOVERY_INTERVAL_MS: "5000",
      SNAPFLEET_METRICS_PORT: "9464",
      SNAPFLEET_QUIESCE_TIMEOUT_MS: "2000",
      SNAPFLEET_QEMU_IMG: "/opt/qemu/bin/qemu-img",
      SNAPFLEET_QEMU_NBD: "/opt/qemu/bin/qemu-nbd",
      LOG_LEVEL: "debug",
      NODE_ENV: "production",
      SNAPFLEET_URL: "https://snapfleet.example.org/",
      SNAPFLEET_TOKEN: " sft_abc ",
      XDG_CONFIG_HOME: "/home/op/.cfg",
    });
    expect(c).toMatchObject({
      port: 8080,
      host: "0.0.0.0",
      allowedHosts: ["snapfleet.example.org", "ops.example.org"],
      tlsCertPath: "/etc/snapfleet/tls.crt",
      tlsKeyPath: "/etc/snapfleet/tls.key",
      secureCookies: true,
      hostRoots: ["/srv/vms", "/run/vms"],
      databaseUrl: "postgresql://app:pw@db:5432/snapfleet",
      dataDir: "/var/lib/snapfleet/data",
      embeddedPgPort: 55000,
      discoveryIntervalMs: 5000,
      metricsPort: 9464,
      quiesceTimeoutMs: 2000,
      qemuImg: "/opt/qemu/bin/qemu-img",
      qemuNbd: "/opt/qemu/bin/qemu-nbd",
      logLevel: "debug",
      dev: false,
      cli: {
        url: "https://snapfleet.example.org/",
        token: "sft_abc",
        credentialsFile: "/home/op/.cfg/snapfleet/credentials.json",
      },
    });
  });

  test("an empty variable counts as unset; Secure cookies by flag or by serving TLS", () => {
    expect(loadConfig({ PORT: "", LOG_LEVEL: "", SNAPFLEET_HOST_ROOTS: "" })).toMatchObject({
      port: 3000,
      logLevel: "info",
      hostRoots: DEFAULT_HOST_ROOTS,
    });
    expect(loadConfig({ SNAPFLEET_SECURE_COOKIES: "1" }).secureCookies).toBe(true);
    expect(loadConfig({ SNAPFLEET_SECURE_COOKIES: "0" }).secureCookies).toBe(false);
    // Serving TLS makes cookies Secure whatever the flag says.
    expect(
      loadConfig({ SNAPFLEET_SECURE_COOKIES: "0", SNAPFLEET_TLS_CERT: "/c.pem", SNAPFLEET_TLS_KEY: "/k.pem" })
        .secureCookies,
    ).toBe(true);
  });

  test.each([
    [{ PORT: "http" }, 'PORT must be a port number (1–65535), got "http"'],
    [{ PORT: "70000" }, 'PORT must be a port number (1–65535), got "70000"'],
    [{ SNAPFLEET_PG_PORT: "5432.5" }, 'SNAPFLEET_PG_PORT must be a port number (1–65535), got "5432.5"'],
    [{ SNAPFLEET_METRICS_PORT: "0" }, 'SNAPFLEET_METRICS_PORT must be a port number (1–65535), got "0"'],
    [{ HOST: "my host" }, 'HOST must be an address or name to listen on, e.g. 127.0.0.1, 0.0.0.0 or ::, got "my host"'],
    [
      { SNAPFLEET_ALLOWED_HOSTS: "a.example.org,https://b.example.org/" },
      'SNAPFLEET_ALLOWED_HOSTS must be comma-separated host names (no ports, paths or spaces), got "a.example.org,https://b.example.org/"',
    ],
    [
      { SNAPFLEET_SECURE_COOKIES: "yes" },
      'SNAPFLEET_SECURE_COOKIES must be 1 (or true) to mark session cookies Secure, 0 (or false) not to, got "yes"',
    ],
    [
      { SNAPFLEET_HOST_ROOTS: "/var/lib/snapfleet,vms" },
      'SNAPFLEET_HOST_ROOTS must be comma-separated absolute directories, e.g. /var/lib/snapfleet,/run/snapfleet, got "/var/lib/snapfleet,vms"',
    ],
    [{ SNAPFLEET_HOST_ROOTS: " , " }, 'SNAPFLEET_HOST_ROOTS must name at least one absolute directory, got " , "'],
    [
      { SNAPFLEET_DISCOVERY_INTERVAL_MS: "10" },
      'SNAPFLEET_DISCOVERY_INTERVAL_MS must be an integer ≥ 1000 (milliseconds, at most one day), got "10"',
    ],
    [
      { SNAPFLEET_DISCOVERY_INTERVAL_MS: "soon" },
      'SNAPFLEET_DISCOVERY_INTERVAL_MS must be an integer ≥ 1000 (milliseconds, at most one day), got "soon"',
    ],
    [
      { SNAPFLEET_QUIESCE_TIMEOUT_MS: "60001" },
      'SNAPFLEET_QUIESCE_TIMEOUT_MS must be a whole number of milliseconds from 100 to 60000, got "60001"',
    ],
    [
      { LOG_LEVEL: "verbose" },
      'LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent, got "verbose"',
    ],
    [{ NODE_ENV: "staging" }, 'NODE_ENV must be production, development or test, got "staging"'],
    [
      { SNAPFLEET_URL: "dash:3000" },
      `SNAPFLEET_URL must be the dashboard's http:// or https:// URL, e.g. http://127.0.0.1:3000, got "dash:3000"`,
    ],
    [
      { SNAPFLEET_TLS_CERT: "/etc/snapfleet/tls.crt" },
      "SNAPFLEET_TLS_CERT and SNAPFLEET_TLS_KEY must be set together (HTTPS needs both)",
    ],
  ])("%o is refused: %s", (env, message) => {
    expect(problem(env)).toBe(message);
  });

  test("a secret's value is never echoed: DATABASE_URL is refused without its password", () => {
    const message = problem({ DATABASE_URL: "mysql://app:hunter2@db/snapfleet" });
    expect(message).toBe("DATABASE_URL must be a PostgreSQL URL, postgresql://user:password@host:port/database");
    expect(message).not.toContain("hunter2");
  });

  test("several bad variables: one error naming each, in the table's order", () => {
    expect(problem({ LOG_LEVEL: "loud", PORT: "x", SNAPFLEET_QUIESCE_TIMEOUT_MS: "5" })).toBe(
      'PORT must be a port number (1–65535), got "x"; SNAPFLEET_QUIESCE_TIMEOUT_MS must be a whole number of milliseconds from 100 to 60000, got "5"; LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent, got "loud"',
    );
  });

  test("knobs read at each use follow the environment of the moment, through the same checks", () => {
    vi.stubEnv("SNAPFLEET_HOST_ROOTS", "/srv/a,/srv/b");
    vi.stubEnv("SNAPFLEET_QUIESCE_TIMEOUT_MS", "250");
    expect(hostPathRoots()).toEqual(["/srv/a", "/srv/b"]);
    expect(quiesceTimeoutMs()).toBe(250);
    vi.stubEnv("SNAPFLEET_QUIESCE_TIMEOUT_MS", "50");
    expect(() => quiesceTimeoutMs()).toThrow(
      'SNAPFLEET_QUIESCE_TIMEOUT_MS must be a whole number of milliseconds from 100 to 60000, got "50"',
    );
    // The logger is made before a start can report anything: a bad level falls back, the start refuses it.
    vi.stubEnv("LOG_LEVEL", "loud");
    expect(configuredLogLevel()).toBe("info");
  });
});

/** Runs `args` with this Node (24, from node_modules/.bin) in this environment plus `env`; how it ended. */
function run(args: string[], env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, args, {
    cwd: REPO,
    env: { ...process.env, ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  return new Promise((resolve) => child.on("exit", (code) => resolve({ code, stderr })));
}

describe("an invalid variable stops each entry point with the one error", () => {
  test("npm start (scripts/start.mjs) refuses before building anything", async () => {
    const { code, stderr } = await run(["scripts/start.mjs"], { PORT: "80a" });
    expect(code).toBe(1);
    expect(stderr.trim()).toBe('Snapfleet failed to start: PORT must be a port number (1–65535), got "80a".');
  });

  test("server.ts says it as its failed-start sentence, naming every bad variable", async () => {
    const { code, stderr } = await run(["--import", "tsx", "server.ts"], {
      NODE_ENV: "production",
      LOG_LEVEL: "loud",
      SNAPFLEET_HOST_ROOTS: "vms",
    });
    expect(code).toBe(1);
    expect(stderr.trim().split("\n").at(-1)).toBe(
      'Snapfleet failed to start: SNAPFLEET_HOST_ROOTS must be comma-separated absolute directories, e.g. /var/lib/snapfleet,/run/snapfleet, got "vms"; LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent, got "loud".',
    );
  });

  test("the CLI answers a usage error (exit 2) naming the variable", async () => {
    let stderr = "";
    const code = await main(["vms", "list"], {
      stdout: { write: () => true },
      stderr: { write: (s: string) => (stderr += s) },
      env: { SNAPFLEET_URL: "ftp://dash" },
    });
    expect(code).toBe(2);
    expect(stderr).toBe(
      `snapfleet vms: SNAPFLEET_URL must be the dashboard's http:// or https:// URL, e.g. http://127.0.0.1:3000, got "ftp://dash"\n`,
    );
  });
});

describe("README.md's table is the schema's", () => {
  test("every variable has a description and the README block is what npm run docs:config writes", () => {
    for (const [name, schema] of Object.entries(envSchema.shape)) {
      expect((schema.meta() as { description?: string } | undefined)?.description, name).toBeTruthy();
    }
    const readme = readFileSync(path.join(REPO, "README.md"), "utf8");
    expect(readme).toContain(`${ENV_TABLE_START}\n${renderEnvTable()}\n${ENV_TABLE_END}`);
    expect(withEnvTable(readme), "README.md is stale: run npm run docs:config").toBe(readme);
    for (const name of Object.keys(envSchema.shape)) expect(renderEnvTable()).toContain(`| \`${name}\` |`);
  });
});

describe("lib/config.ts is the only reader of the environment", () => {
  function sources(dir: string): string[] {
    return readdirSync(path.join(REPO, dir), { withFileTypes: true, recursive: true })
      .filter((e) => e.isFile() && /\.(ts|tsx|mjs|js)$/.test(e.name))
      .map((e) => path.relative(REPO, path.join(e.parentPath, e.name)))
      .filter((f) => !f.startsWith(path.join("lib", "db", "generated")));
  }

  test("no module of lib/, app/, components/, bin/, scripts/ or server.ts names process.env", () => {
    const files = [...["lib", "app", "components", "bin", "scripts"].flatMap(sources), "server.ts"];
    expect(files.length).toBeGreaterThan(100);
    const offenders = files.filter(
      (f) =>
        f !== path.join("lib", "config.ts") &&
        /process\s*\.\s*env\b|process\s*\[\s*["'`]env/.test(readFileSync(path.join(REPO, f), "utf8")),
    );
    expect(offenders).toEqual([]);
  });
});
