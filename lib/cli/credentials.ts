// Where the CLI finds the dashboard and its credential. Owns the credentials file
// ($XDG_CONFIG_HOME or ~/.config)/snapfleet/credentials.json: { url, token } (a personal API token,
// created at login for admins) or { url, session } (a session cookie, for roles that may not create
// tokens; valid 7 days). Invariants: the file is mode 0600 in a 0700 directory, written atomically;
// a credential is only ever sent to the URL it was stored with — SNAPFLEET_URL naming another
// dashboard needs SNAPFLEET_TOKEN too; SNAPFLEET_URL + SNAPFLEET_TOKEN override the file entirely.
import { chmod, mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import { loadConfig, type Environment } from "../config";
import { unlessMissing } from "../missing-file";
import { CliError, EXIT } from "./exit-codes";

const storedSchema = z.object({
  url: z.string(),
  token: z.string().optional(),
  /** Token row id, so `snapfleet logout` can revoke it. */
  tokenId: z.string().optional(),
  /** `name=value` of the session cookie. */
  session: z.string().optional(),
  user: z.string().optional(),
  role: z.string().optional(),
  expiresAt: z.string().nullable().optional(),
});
export type StoredCredentials = z.infer<typeof storedSchema>;

export type Credential = { kind: "token"; token: string } | { kind: "session"; cookie: string };

export interface Target {
  url: string;
  credential: Credential;
}

/** The credentials file under `env` (default: this process's environment; lib/config.ts). */
export function credentialsPath(env?: Environment): string {
  return loadConfig(env).cli.credentialsFile;
}

/** "http://host:3000/" → "http://host:3000"; refuses what fetch could not use. */
export function normalizeUrl(text: string): string {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new CliError(EXIT.usage, `"${text}" is not a URL (expected e.g. http://127.0.0.1:3000)`);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:")
    throw new CliError(EXIT.usage, `the dashboard URL must be http:// or https://, not ${u.protocol}`);
  if (u.username || u.password)
    throw new CliError(EXIT.usage, "put no credentials in the URL: use snapfleet login or SNAPFLEET_TOKEN");
  return `${u.origin}${u.pathname.replace(/\/+$/, "")}`;
}

export async function readStored(file = credentialsPath()): Promise<StoredCredentials | null> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw new CliError(EXIT.usage, `cannot read ${file}: ${(err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    raw = undefined; // not JSON: refused below like any other malformed file
  }
  const parsed = storedSchema.safeParse(raw);
  if (!parsed.success)
    throw new CliError(EXIT.usage, `${file} is not a Snapfleet credentials file: run snapfleet login again`);
  return parsed.data;
}

export async function writeStored(creds: StoredCredentials, file = credentialsPath()): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(creds, null, 2)}\n`, { mode: 0o600 });
  // writeFile's mode only applies to a new file, and the umask may have narrowed it: set it exactly.
  await chmod(tmp, 0o600);
  await rename(tmp, file);
}

export async function removeStored(file = credentialsPath()): Promise<boolean> {
  return unlessMissing(
    rm(file).then(() => true),
    false,
  );
}

/** The dashboard and credential to use: the environment first, then the file. */
export async function resolveTarget(env?: Environment): Promise<Target> {
  const { cli } = loadConfig(env);
  const envUrl = cli.url ? normalizeUrl(cli.url) : undefined;
  const envToken = cli.token;
  const stored = await readStored(cli.credentialsFile);
  const url = envUrl ?? (stored ? normalizeUrl(stored.url) : undefined);
  if (!url)
    throw new CliError(
      EXIT.usage,
      "no dashboard configured: run snapfleet login <url>, or set SNAPFLEET_URL and SNAPFLEET_TOKEN",
    );
  if (envToken) return { url, credential: { kind: "token", token: envToken } };
  if (stored && normalizeUrl(stored.url) === url) {
    if (stored.token) return { url, credential: { kind: "token", token: stored.token } };
    if (stored.session) return { url, credential: { kind: "session", cookie: stored.session } };
  }
  throw new CliError(EXIT.usage, `no credentials for ${url}: run snapfleet login ${url}, or set SNAPFLEET_TOKEN`);
}
