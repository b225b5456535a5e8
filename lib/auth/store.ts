// Users, sessions, API tokens and the first-run set-up token in PostgreSQL. Owns: creating users with
// hashed passwords, logins (rate-limited per client address and per user name, in the database so
// every process shares the count), session and token lookup by the SHA-256 of the presented secret,
// logout, and the set-up link a start with no admin prints.
// Invariants: no secret is stored or returned except once, at creation; a user name's existence is not
// revealed by timing or by the error; expired and revoked secrets never authenticate.
import { logIgnored } from "../best-effort";
import { db } from "../db/client";
import { ConflictError, InvalidInputError, NotFoundError } from "../errors";
import { AuthError, TooManyAttemptsError } from "./errors";
import { hashPassword, passwordProblem, verifyAgainstDummy, verifyPassword } from "./passwords";
import { ROLES, type Identity, type Role } from "./roles";
import { hashSecret, looksLike, newSecret } from "./secrets";

export const SESSION_TTL_MS = 7 * 24 * 3600_000;
export const SETUP_TTL_MS = 3600_000;
export const SESSION_COOKIE = "sf_session";
/** Failed attempts within the window before a key is locked out: per (address, name), and per address. */
export const LOGIN_MAX_FAILURES = 5;
export const LOGIN_MAX_FAILURES_PER_IP = 50;
export const LOGIN_WINDOW_MS = 15 * 60_000;
export const LOGIN_LOCK_MS = 15 * 60_000;

const USER_NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;

export function userNameProblem(name: string): string | null {
  return USER_NAME.test(name)
    ? null
    : "user name: 1–64 letters, digits, dots, dashes, underscores or @, starting with a letter or digit";
}

function assertRole(role: string): asserts role is Role {
  if (!(ROLES as readonly string[]).includes(role))
    throw new InvalidInputError(`role must be one of ${ROLES.join(", ")}`);
}

export interface UserJson {
  id: string;
  name: string;
  role: Role;
  disabled: boolean;
  createdAt: string;
}

function userJson(u: { id: string; name: string; role: Role; disabled: boolean; createdAt: Date }): UserJson {
  return { id: u.id, name: u.name, role: u.role, disabled: u.disabled, createdAt: u.createdAt.toISOString() };
}

export async function createUser(name: string, role: string, password: string): Promise<UserJson> {
  const nameErr = userNameProblem(name);
  if (nameErr) throw new InvalidInputError(nameErr);
  assertRole(role);
  const pwErr = passwordProblem(password);
  if (pwErr) throw new InvalidInputError(pwErr);
  const passwordHash = await hashPassword(password);
  try {
    return userJson(await db().user.create({ data: { name, role, passwordHash } }));
  } catch (err) {
    if ((err as { code?: string }).code === "P2002") throw new ConflictError(`a user named ${name} already exists`);
    throw err;
  }
}

export async function listUsers(): Promise<UserJson[]> {
  return (await db().user.findMany({ orderBy: { name: "asc" } })).map(userJson);
}

export async function updateUser(
  id: string,
  patch: { role?: string; password?: string; disabled?: boolean },
): Promise<UserJson> {
  const data: { role?: Role; passwordHash?: string; disabled?: boolean } = {};
  if (patch.role !== undefined) {
    assertRole(patch.role);
    data.role = patch.role;
  }
  if (patch.password !== undefined) {
    const pwErr = passwordProblem(patch.password);
    if (pwErr) throw new InvalidInputError(pwErr);
    data.passwordHash = await hashPassword(patch.password);
  }
  if (patch.disabled !== undefined) data.disabled = patch.disabled;
  const existing = await db().user.findUnique({ where: { id } });
  if (!existing) throw new NotFoundError(`no user with id ${id}`);
  if (existing.role === "admin" && ((data.role && data.role !== "admin") || data.disabled))
    await assertAnotherAdmin(id);
  const user = await db().user.update({ where: { id }, data });
  // A changed password, role or disabled flag ends the user's sessions.
  await db().session.deleteMany({ where: { userId: id } });
  return userJson(user);
}

async function assertAnotherAdmin(exceptId: string): Promise<void> {
  const others = await db().user.count({ where: { role: "admin", disabled: false, NOT: { id: exceptId } } });
  if (others === 0) throw new ConflictError("this is the last admin: make another user admin first");
}

export async function deleteUser(id: string): Promise<void> {
  const existing = await db().user.findUnique({ where: { id } });
  if (!existing) throw new NotFoundError(`no user with id ${id}`);
  if (existing.role === "admin") await assertAnotherAdmin(id);
  await db().user.delete({ where: { id } });
}

export async function hasAdmin(): Promise<boolean> {
  return (await db().user.count({ where: { role: "admin", disabled: false } })) > 0;
}

// ---- rate limit ----

async function throttleState(keys: string[], now: Date): Promise<number> {
  const rows = await db().loginThrottle.findMany({ where: { key: { in: keys } } });
  let wait = 0;
  for (const r of rows)
    if (r.lockedUntil && r.lockedUntil > now)
      wait = Math.max(wait, Math.ceil((r.lockedUntil.getTime() - now.getTime()) / 1000));
  return wait;
}

async function recordFailure(keys: string[], now: Date): Promise<void> {
  for (const key of keys) {
    const max = key.startsWith("ip:") ? LOGIN_MAX_FAILURES_PER_IP : LOGIN_MAX_FAILURES;
    // One statement per key: concurrent failures from several processes add up exactly.
    await db().$executeRaw`
      INSERT INTO "LoginThrottle" ("key", "failures", "windowStart") VALUES (${key}, 1, ${now})
      ON CONFLICT ("key") DO UPDATE SET
        "failures" = CASE WHEN "LoginThrottle"."windowStart" < ${new Date(now.getTime() - LOGIN_WINDOW_MS)} THEN 1 ELSE "LoginThrottle"."failures" + 1 END,
        "windowStart" = CASE WHEN "LoginThrottle"."windowStart" < ${new Date(now.getTime() - LOGIN_WINDOW_MS)} THEN ${now} ELSE "LoginThrottle"."windowStart" END,
        "lockedUntil" = CASE WHEN "LoginThrottle"."windowStart" >= ${new Date(now.getTime() - LOGIN_WINDOW_MS)} AND "LoginThrottle"."failures" + 1 >= ${max}
                             THEN ${new Date(now.getTime() + LOGIN_LOCK_MS)} ELSE "LoginThrottle"."lockedUntil" END`;
  }
}

export interface LoginResult {
  identity: Identity;
  /** The cookie value; shown to the browser once. */
  sessionToken: string;
  expiresAt: Date;
}

/**
 * Checks a name and password, rate-limited per client address and per (address, name): after
 * LOGIN_MAX_FAILURES failures (LOGIN_MAX_FAILURES_PER_IP per address) in LOGIN_WINDOW_MS the key is locked for LOGIN_LOCK_MS (429).
 */
export async function login(name: string, password: string, ip: string, now = new Date()): Promise<LoginResult> {
  const keys = [`ip:${ip}`, `user:${ip}:${name.toLowerCase().slice(0, 64)}`];
  const wait = await throttleState(keys, now);
  if (wait > 0) throw new TooManyAttemptsError(`too many failed logins; try again in ${wait} s`, wait);
  const user = name.length <= 64 && password.length <= 1024 ? await db().user.findUnique({ where: { name } }) : null;
  const ok =
    user && !user.disabled ? await verifyPassword(password, user.passwordHash) : await verifyAgainstDummy(password);
  if (!ok || !user) {
    await recordFailure(keys, now);
    throw new AuthError("wrong user name or password");
  }
  await db().loginThrottle.deleteMany({ where: { key: keys[1] } });
  return {
    identity: { kind: "user", id: user.id, name: user.name, role: user.role },
    ...(await createSession(user.id, ip, now)),
  };
}

export async function createSession(
  userId: string,
  ip: string | null,
  now = new Date(),
): Promise<{ sessionToken: string; expiresAt: Date }> {
  const sessionToken = newSecret("sfs");
  const expiresAt = new Date(now.getTime() + SESSION_TTL_MS);
  await db().session.create({ data: { tokenHash: hashSecret(sessionToken), userId, expiresAt, ip } });
  // Housekeeping: expired sessions of this user go now.
  await db().session.deleteMany({ where: { userId, expiresAt: { lt: now } } });
  return { sessionToken, expiresAt };
}

export async function sessionIdentity(token: string, now = new Date()): Promise<Identity | null> {
  if (!looksLike("sfs", token)) return null;
  const s = await db().session.findUnique({ where: { tokenHash: hashSecret(token) }, include: { user: true } });
  if (!s || s.expiresAt <= now || s.user.disabled) return null;
  if (now.getTime() - s.lastSeenAt.getTime() > 60_000) {
    await db()
      .session.update({ where: { id: s.id }, data: { lastSeenAt: now } })
      .catch(logIgnored("a session's last-seen time is informational"));
  }
  return { kind: "user", id: s.user.id, name: s.user.name, role: s.user.role, sessionId: s.id };
}

export async function logout(token: string): Promise<void> {
  if (!looksLike("sfs", token)) return;
  await db().session.deleteMany({ where: { tokenHash: hashSecret(token) } });
}

export async function sessionStillValid(sessionId: string, now = new Date()): Promise<boolean> {
  const s = await db().session.findUnique({
    where: { id: sessionId },
    include: { user: { select: { disabled: true } } },
  });
  return Boolean(s && s.expiresAt > now && !s.user.disabled);
}

// ---- API tokens ----

export interface ApiTokenJson {
  id: string;
  name: string;
  role: Role;
  createdBy: string | null;
  createdAt: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

function tokenJson(t: {
  id: string;
  name: string;
  role: Role;
  createdBy: string | null;
  createdAt: Date;
  expiresAt: Date | null;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
}): ApiTokenJson {
  return {
    id: t.id,
    name: t.name,
    role: t.role,
    createdBy: t.createdBy,
    createdAt: t.createdAt.toISOString(),
    expiresAt: t.expiresAt?.toISOString() ?? null,
    lastUsedAt: t.lastUsedAt?.toISOString() ?? null,
    revokedAt: t.revokedAt?.toISOString() ?? null,
  };
}

export async function createApiToken(input: {
  name: string;
  role: string;
  expiresAt: Date | null;
  createdBy: string | null;
}): Promise<{ token: string; info: ApiTokenJson }> {
  const nameErr = userNameProblem(input.name);
  if (nameErr) throw new InvalidInputError(nameErr.replace("user name", "token name"));
  assertRole(input.role);
  const token = newSecret("sft");
  try {
    const row = await db().apiToken.create({
      data: {
        name: input.name,
        role: input.role,
        tokenHash: hashSecret(token),
        expiresAt: input.expiresAt,
        createdBy: input.createdBy,
      },
    });
    return { token, info: tokenJson(row) };
  } catch (err) {
    if ((err as { code?: string }).code === "P2002")
      throw new ConflictError(`a token named ${input.name} already exists`);
    throw err;
  }
}

export async function listApiTokens(): Promise<ApiTokenJson[]> {
  return (await db().apiToken.findMany({ orderBy: { createdAt: "desc" } })).map(tokenJson);
}

export async function revokeApiToken(id: string): Promise<void> {
  const r = await db().apiToken.updateMany({ where: { id, revokedAt: null }, data: { revokedAt: new Date() } });
  if (r.count === 0 && !(await db().apiToken.findUnique({ where: { id } })))
    throw new NotFoundError(`no token with id ${id}`);
}

export async function apiTokenIdentity(token: string, now = new Date()): Promise<Identity | null> {
  if (!looksLike("sft", token)) return null;
  const t = await db().apiToken.findUnique({ where: { tokenHash: hashSecret(token) } });
  if (!t || t.revokedAt || (t.expiresAt && t.expiresAt <= now)) return null;
  if (!t.lastUsedAt || now.getTime() - t.lastUsedAt.getTime() > 60_000) {
    await db()
      .apiToken.update({ where: { id: t.id }, data: { lastUsedAt: now } })
      .catch(logIgnored("a token's last-used time is informational"));
  }
  return { kind: "token", id: t.id, name: t.name, role: t.role };
}

// ---- first-run set-up ----

/** A fresh single-use set-up token (older unused ones stop working). Returns the secret, once. */
export async function createSetupToken(now = new Date()): Promise<string> {
  const token = newSecret("sfu");
  await db().$transaction([
    db().setupToken.deleteMany({ where: { usedAt: null } }),
    db().setupToken.create({
      data: { tokenHash: hashSecret(token), expiresAt: new Date(now.getTime() + SETUP_TTL_MS) },
    }),
  ]);
  return token;
}

export async function setupTokenValid(token: string, now = new Date()): Promise<boolean> {
  if (!looksLike("sfu", token)) return false;
  const row = await db().setupToken.findUnique({ where: { tokenHash: hashSecret(token) } });
  return Boolean(row && !row.usedAt && row.expiresAt > now) && !(await hasAdmin());
}

/** Creates the first admin with a set-up token: single use (claimed atomically), one hour, only while no admin exists. */
export async function completeSetup(
  token: string,
  name: string,
  password: string,
  ip: string,
  now = new Date(),
): Promise<LoginResult> {
  if (!looksLike("sfu", token)) throw new AuthError("this set-up link is not valid");
  const nameErr = userNameProblem(name);
  if (nameErr) throw new InvalidInputError(nameErr);
  const pwErr = passwordProblem(password);
  if (pwErr) throw new InvalidInputError(pwErr);
  const passwordHash = await hashPassword(password);
  const user = await db().$transaction(async (tx) => {
    const claimed = await tx.setupToken.updateMany({
      where: { tokenHash: hashSecret(token), usedAt: null, expiresAt: { gt: now } },
      data: { usedAt: now },
    });
    if (claimed.count !== 1)
      throw new AuthError(
        "this set-up link is not valid, was used already or expired; restart the dashboard for a new one",
      );
    if ((await tx.user.count({ where: { role: "admin" } })) > 0)
      throw new AuthError("an admin exists already: log in instead");
    return tx.user.create({ data: { name, role: "admin", passwordHash } });
  });
  return {
    identity: { kind: "user", id: user.id, name: user.name, role: "admin" },
    ...(await createSession(user.id, ip, now)),
  };
}
