// `snapfleet user create --admin <name>` and `snapfleet token create --role operator --name ci`
// against a test database (DATABASE_URL): the user can log in, the token is printed once and works.
import { describe, expect, test } from "vitest";
import { apiTokenIdentity, login } from "../../lib/auth/store";
import { main } from "../../lib/cli/main";
import { useTestDatabase } from "../support/db";

const database = useTestDatabase();

function io(password?: string) {
  const out = { stdout: "", stderr: "" };
  return {
    out,
    io: {
      stdout: { write: (s: string) => (out.stdout += s) },
      stderr: { write: (s: string) => (out.stderr += s) },
      readPassword: async () => password ?? "",
    },
  };
}

describe("snapfleet user / token", () => {
  test("user create --admin, with the password from the prompt/stdin", async () => {
    const a = io("the-admin-password");
    expect(await main(["user", "create", "--admin", "root-admin"], a.io)).toBe(0);
    expect(a.out.stderr).toContain("created admin root-admin");
    expect(a.out.stdout).toBe("");
    const row = await database.current.prisma.user.findUniqueOrThrow({ where: { name: "root-admin" } });
    expect(row.passwordHash).toMatch(/^scrypt\$/);
    expect((await login("root-admin", "the-admin-password", "127.0.0.1")).identity.role).toBe("admin");
  });

  test("a short password or a missing name is a usage error", async () => {
    const short = io("short");
    expect(await main(["user", "create", "--admin", "x"], short.io)).toBe(2);
    expect(short.out.stderr).toMatch(/at least 10 characters/);
    expect(await main(["user", "create", "--admin"], io("long-enough-password").io)).toBe(2);
  });

  test("token create prints the token once on stdout; it authenticates with its role", async () => {
    const t = io();
    expect(await main(["token", "create", "--role", "operator", "--name", "ci", "--expires", "30d"], t.io)).toBe(0);
    const token = t.out.stdout.trim();
    expect(token).toMatch(/^sft_[A-Za-z0-9_-]{43}$/);
    expect(t.out.stderr).toMatch(/token ci \(operator\) created, expires/);
    expect(await apiTokenIdentity(token)).toMatchObject({ kind: "token", name: "ci", role: "operator" });
    expect(await main(["token", "create", "--role", "root", "--name", "x"], io().io)).toBe(1);
  });
});
