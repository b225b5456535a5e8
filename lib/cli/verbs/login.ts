// `snapfleet login <url>`, `logout`, `whoami`. Login asks for the user name and password (or reads an
// existing API token with --token-stdin) and stores the dashboard's URL with a credential in the
// credentials file (lib/cli/credentials.ts). Only admins may create API tokens (POST /api/tokens), so:
// an admin gets a personal token (90 days, named cli-<user>@<machine>-<stamp>) and the login session is
// ended at once; other roles keep the login session (7 days, then log in again). Logout revokes what
// login created where the role allows, and removes the file.
import os from "node:os";
import { parseFlags, UsageError } from "../args";
import {
  credentialsPath,
  normalizeUrl,
  readStored,
  removeStored,
  resolveTarget,
  writeStored,
  type StoredCredentials,
} from "../credentials";
import { CliError, EXIT } from "../exit-codes";
import { formatTime } from "../format";
import { ApiClient } from "../http-client";
import { promptLine, readSecret } from "../prompt";
import { printJson, printUsage, wantsHelp, type VerbContext } from "./context";

export const LOGIN_USAGE = `Usage: snapfleet login <url> [--user <name>] [--token-stdin] [--json]
  Asks for the password (hidden prompt, or stdin's first line when stdin is not a terminal) and stores
  the URL with a credential in ${"$"}XDG_CONFIG_HOME/snapfleet/credentials.json (default ~/.config/…, mode 0600).
  Admins get a personal API token (90 days); other roles keep the login session (7 days).
  --token-stdin  store an existing API token instead (read from stdin or a hidden prompt)
Usage: snapfleet logout      revoke what login stored (where the role allows) and remove the file
Usage: snapfleet whoami      who the stored credential or SNAPFLEET_TOKEN is, and where`;

const TOKEN_LIFETIME = "90d";
const SESSION_LIFETIME_MS = 7 * 86_400_000;

interface Me {
  name: string;
  role: string;
  kind: string;
}

function tokenName(user: string): string {
  const stamp = new Date().toISOString().replace(/[-:T]/g, "").slice(0, 14);
  const machine = os.hostname().replace(/[^A-Za-z0-9.-]/g, "-");
  return `cli-${user}@${machine}`.slice(0, 64 - stamp.length - 1).replace(/[^A-Za-z0-9._@-]/g, "-") + `-${stamp}`;
}

/** `sf_session=abc; Path=/; HttpOnly` → `sf_session=abc`. */
function cookiePair(setCookie: string | null): string | null {
  const pair = setCookie?.split(";")[0]?.trim();
  return pair && pair.includes("=") && !pair.endsWith("=") ? pair : null;
}

export async function runLogin(args: string[], ctx: VerbContext): Promise<number> {
  if (wantsHelp(args)) return printUsage(ctx, LOGIN_USAGE);
  const flags = parseFlags(args, { valued: ["user"], boolean: ["token-stdin", "json"] });
  if (flags.positional.length !== 1) throw new UsageError(LOGIN_USAGE);
  const url = normalizeUrl(flags.positional[0]!);
  const file = credentialsPath(ctx.env);
  let stored: StoredCredentials;

  if (flags.set.has("token-stdin")) {
    const token = (await readSecret("API token: ")).trim();
    if (!token) throw new UsageError("no token given on stdin");
    const me = await new ApiClient(url, { kind: "token", token }).get<Me>("/api/auth/me");
    stored = { url, token, user: me.name, role: me.role, expiresAt: null };
  } else {
    let user = flags.values.user;
    if (!user) {
      if (!ctx.interactive)
        throw new UsageError("pass --user <name> when stdin is not a terminal (the password is then read from stdin)");
      user = (await promptLine("User: ")).trim();
    }
    const password = await readSecret(`Password for ${user}: `);
    if (!password) throw new UsageError("no password given");
    const anonymous = new ApiClient(url, null);
    const answer = await anonymous.request<{ user: { name: string; role: string } }>("POST", "/api/auth/login", {
      name: user,
      password,
    });
    const cookie = cookiePair(answer.headers.get("set-cookie"));
    if (!cookie)
      throw new CliError(
        EXIT.failed,
        `${url} answered the login without a session cookie: is it a Snapfleet dashboard?`,
      );
    const session = new ApiClient(url, { kind: "session", cookie });
    const { role, name } = answer.body.user;
    if (role === "admin") {
      const created = await session.post<{
        token: string;
        info: { id: string; name: string; expiresAt: string | null };
      }>("/api/tokens", {
        name: tokenName(name),
        role,
        expiresIn: TOKEN_LIFETIME,
      });
      stored = {
        url,
        token: created.token,
        tokenId: created.info.id,
        user: name,
        role,
        expiresAt: created.info.expiresAt,
      };
      // The token replaces the session: end it rather than leave a second live credential behind.
      await session.post("/api/auth/logout");
    } else {
      stored = {
        url,
        session: cookie,
        user: name,
        role,
        expiresAt: new Date(Date.now() + SESSION_LIFETIME_MS).toISOString(),
      };
    }
  }
  await writeStored(stored, file);
  const what = stored.token ? (stored.tokenId ? "a personal API token" : "the API token") : "the login session";
  const until = stored.expiresAt ? `, valid until ${formatTime(stored.expiresAt)} UTC` : "";
  if (flags.set.has("json"))
    printJson(ctx, {
      url,
      user: stored.user,
      role: stored.role,
      credential: stored.token ? "token" : "session",
      expiresAt: stored.expiresAt ?? null,
      file,
    });
  else
    ctx.io.stderr.write(
      `logged in to ${url} as ${stored.user} (${stored.role}); ${what} is stored in ${file}${until}\n`,
    );
  return EXIT.done;
}

export async function runLogout(args: string[], ctx: VerbContext): Promise<number> {
  if (wantsHelp(args)) return printUsage(ctx, LOGIN_USAGE);
  const flags = parseFlags(args, { boolean: ["json"] });
  if (flags.positional.length) throw new UsageError("logout takes no arguments");
  const file = credentialsPath(ctx.env);
  const stored = await readStored(file);
  if (!stored) {
    ctx.io.stderr.write(`not logged in (no ${file})\n`);
    return EXIT.done;
  }
  const notes: string[] = [];
  try {
    if (stored.session) {
      await new ApiClient(normalizeUrl(stored.url), { kind: "session", cookie: stored.session }).post(
        "/api/auth/logout",
      );
      notes.push("session ended");
    } else if (stored.token && stored.tokenId) {
      await new ApiClient(normalizeUrl(stored.url), { kind: "token", token: stored.token }).delete(
        `/api/tokens/${stored.tokenId}`,
      );
      notes.push("token revoked");
    }
  } catch (err) {
    // The file goes anyway: the person asked to be logged out here; say what is left on the dashboard.
    notes.push(
      `could not revoke it on the dashboard (${(err as Error).message}); an admin can, under Settings → API tokens`,
    );
  }
  await removeStored(file);
  if (flags.set.has("json")) printJson(ctx, { url: stored.url, removed: file, notes });
  else ctx.io.stderr.write(`logged out of ${stored.url}${notes.length ? `: ${notes.join("; ")}` : ""}\n`);
  return EXIT.done;
}

export async function runWhoami(args: string[], ctx: VerbContext): Promise<number> {
  if (wantsHelp(args)) return printUsage(ctx, LOGIN_USAGE);
  const flags = parseFlags(args, { boolean: ["json"] });
  const target = await resolveTarget(ctx.env);
  const me = await (await ctx.client()).get<Me>("/api/auth/me");
  if (flags.set.has("json")) printJson(ctx, { url: target.url, ...me });
  else ctx.io.stdout.write(`${me.name} (${me.role}, ${me.kind}) at ${target.url}\n`);
  return EXIT.done;
}
