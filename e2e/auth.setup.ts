// Runs before every journey (Playwright project "setup"): creates an admin, an operator and a viewer
// through the CLI (`snapfleet user create`, against the running dashboard's embedded PostgreSQL) and
// saves each one's logged-in browser state; journeys run as the admin unless they pick another
// (e2e/support/auth.ts).
import { spawnSync } from "node:child_process";
import path from "node:path";
import { expect, test as setup } from "@playwright/test";
import { E2E_USERS, stateFile } from "./support/auth";

const REPO = path.resolve(import.meta.dirname, "..");

setup("users and their sessions", async ({ playwright }, testInfo) => {
  for (const [role, u] of Object.entries(E2E_USERS)) {
    const r = spawnSync(
      process.execPath,
      [path.join(REPO, "bin/snapfleet.mjs"), "user", "create", "--role", role, u.name],
      {
        cwd: REPO,
        input: `${u.password}\n`,
        encoding: "utf8",
        env: {
          ...process.env,
          DATABASE_URL: "",
          SNAPFLEET_DATA_DIR: process.env.E2E_DATA_DIR,
          SNAPFLEET_PG_PORT: String(Number(process.env.E2E_PORT || 3100) + 10),
        },
      },
    );
    // A reused data dir has the users already.
    expect(r.status === 0 || /already exists/.test(r.stderr), r.stderr).toBe(true);
    const api = await playwright.request.newContext({ baseURL: testInfo.project.use.baseURL });
    const res = await api.post("/api/auth/login", { data: { name: u.name, password: u.password } });
    expect(res.status(), await res.text()).toBe(200);
    await api.storageState({ path: stateFile(role as keyof typeof E2E_USERS) });
    await api.dispose();
  }
});
