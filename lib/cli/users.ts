// `snapfleet user create` and `snapfleet token create`: the scripted way to the first admin (instead
// of the one-time set-up link) and API tokens for scripts. They reach the dashboard's database: the
// server at DATABASE_URL, or the embedded PostgreSQL under SNAPFLEET_DATA_DIR — the running one (with
// the credentials kept in the data dir), or started for the command and stopped again.
// Passwords come from a prompt without echo, or from stdin's first line when it is not a terminal;
// never from the command line (it would land in shell history and `ps`). A token is printed once, on
// stdout alone, so `TOKEN=$(npx snapfleet token create …)` works.
import { logIgnored } from "../best-effort";
import pg from "pg";
import { UsageError } from "./args";
import { promptHidden, readStdinLine } from "./prompt";
import type { CliIo } from "./qmp";

const USER_USAGE = `Usage: snapfleet user create (--admin | --role viewer|operator|admin) <name>
  The password is read from a prompt, or from stdin's first line when stdin is not a terminal.`;
const TOKEN_USAGE = `Usage: snapfleet token create --role viewer|operator|admin --name <name> [--expires 30d|12h|90m]
  Prints the token once on stdout; send it as "Authorization: Bearer <token>".`;

export interface UserCliIo extends CliIo {
  /** The password source; defaults to a prompt on the terminal or stdin's first line. */
  readPassword?: (prompt: string) => Promise<string>;
}

function parseFlags(args: string[], valued: string[]): { flags: Record<string, string | true>; rest: string[] } {
  const flags: Record<string, string | true> = {};
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a.startsWith("--")) {
      const [k, inline] = a.slice(2).split("=", 2) as [string, string | undefined];
      if (valued.includes(k)) {
        const v = inline ?? args[++i];
        if (v === undefined) throw new UsageError(`--${k} needs a value`);
        flags[k] = v;
      } else flags[k] = true;
    } else rest.push(a);
  }
  return { flags, rest };
}

async function defaultReadPassword(prompt: string): Promise<string> {
  if (!process.stdin.isTTY) return readStdinLine();
  const first = await promptHidden(prompt);
  const again = await promptHidden("Again: ");
  if (first !== again) throw new UsageError("the passwords differ");
  return first;
}

/** Points this process at the dashboard's database (lib/db/client.ts useDatabase) for the duration of `work`. */
async function withDashboardDatabase<T>(work: () => Promise<T>): Promise<T> {
  const { loadConfig } = await import("../config");
  const { db, useDatabase } = await import("../db/client");
  const config = loadConfig();
  let stop = async () => {};
  if (config.databaseUrl) {
    useDatabase(config.databaseUrl);
  } else {
    const { readEmbeddedCredentials } = await import("../db/embedded-postgres");
    const creds = readEmbeddedCredentials(config.dataDir);
    const url =
      creds &&
      `postgresql://${creds.appUser}:${encodeURIComponent(creds.appPassword)}@127.0.0.1:${config.embeddedPgPort}/snapfleet`;
    let running = false;
    if (url) {
      const probe = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
      running = await probe.connect().then(
        () => true,
        () => false,
      );
      await probe.end().catch(logIgnored("closing the probe connection"));
    }
    if (running && url) {
      useDatabase(url);
    } else {
      // No dashboard running: start its embedded PostgreSQL for this command (migrations applied).
      const { startDatabase } = await import("../db/database");
      const { createLogger } = await import("../logger");
      const database = await startDatabase(config, createLogger(undefined, "warn"));
      stop = database.stop;
    }
  }
  try {
    return await work();
  } finally {
    await db().$disconnect().catch(logIgnored("the command is done; the process exits"));
    await stop();
  }
}

export async function runUser(args: string[], io: UserCliIo): Promise<number> {
  const [action, ...rest] = args;
  if (action !== "create" || rest.includes("--help") || rest.includes("-h")) {
    (action === undefined || rest.includes("--help") || rest.includes("-h") ? io.stdout : io.stderr).write(
      `${USER_USAGE}\n`,
    );
    return action === "create" || action === undefined ? 0 : 2;
  }
  const { flags, rest: names } = parseFlags(rest, ["role"]);
  const role = flags.admin ? "admin" : typeof flags.role === "string" ? flags.role : undefined;
  if (!role || names.length !== 1) throw new UsageError(USER_USAGE);
  const name = names[0]!;
  const { passwordProblem } = await import("../auth/passwords");
  const password = await (io.readPassword ?? defaultReadPassword)(`Password for ${name}: `);
  const problem = passwordProblem(password);
  if (problem) throw new UsageError(problem);
  return withDashboardDatabase(async () => {
    const { createUser } = await import("../auth/store");
    const user = await createUser(name, role, password);
    io.stderr.write(`created ${user.role} ${user.name}\n`);
    return 0;
  });
}

export async function runToken(args: string[], io: UserCliIo): Promise<number> {
  const [action, ...rest] = args;
  if (action !== "create" || rest.includes("--help") || rest.includes("-h")) {
    (action === undefined || rest.includes("--help") ? io.stdout : io.stderr).write(`${TOKEN_USAGE}\n`);
    return action === "create" || action === undefined ? 0 : 2;
  }
  const { flags } = parseFlags(rest, ["role", "name", "expires"]);
  if (typeof flags.role !== "string" || typeof flags.name !== "string") throw new UsageError(TOKEN_USAGE);
  const { durationMs } = await import("../validations/auth");
  let expiresAt: Date | null = null;
  if (typeof flags.expires === "string") {
    if (!/^\d{1,5}[mhd]$/.test(flags.expires)) throw new UsageError(`--expires must look like 30d, 12h or 90m`);
    expiresAt = new Date(Date.now() + durationMs(flags.expires));
  }
  const { role, name } = flags;
  return withDashboardDatabase(async () => {
    const { createApiToken } = await import("../auth/store");
    const { token, info } = await createApiToken({ name, role, expiresAt, createdBy: "cli" });
    io.stdout.write(`${token}\n`);
    io.stderr.write(
      `token ${info.name} (${info.role}) created${info.expiresAt ? `, expires ${info.expiresAt}` : ", no expiry"}; it is shown only now\n`,
    );
    return 0;
  });
}
