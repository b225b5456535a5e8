// Playwright: end-to-end journeys in Debian's Chromium (/usr/bin/chromium; nothing is downloaded)
// against the production build served by server.ts on its own port, data dir and embedded PostgreSQL.
// The "setup" project (e2e/auth.setup.ts) creates an admin, an operator and a viewer with the CLI and
// saves their sessions; every journey runs logged in as the admin unless it picks another role. The
// dashboard's log of this run (info and up) goes to .test-logs/e2e/dashboard.log: scripts/test-all.sh
// prints its warnings and errors when a journey fails.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { defineConfig } from "@playwright/test";

const PORT = Number(process.env.E2E_PORT || 3100);
const dataDir = process.env.E2E_DATA_DIR || mkdtempSync(path.join(tmpdir(), "snapfleet-e2e-"));
process.env.E2E_DATA_DIR = dataDir;
process.env.E2E_PORT = String(PORT);

export default defineConfig({
  testDir: "e2e",
  fullyParallel: false,
  workers: 1,
  retries: 0,
  timeout: 60_000,
  expect: { timeout: 10_000 },
  reporter: [["list"]],
  projects: [
    { name: "setup", testMatch: /auth\.setup\.ts$/ },
    { name: "journeys", dependencies: ["setup"], use: { storageState: path.join(dataDir, "state-admin.json") } },
  ],
  use: {
    baseURL: `http://localhost:${PORT}`,
    trace: "retain-on-failure",
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH || "/usr/bin/chromium",
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    },
  },
  webServer: {
    command: "mkdir -p .test-logs/e2e && exec tsx server.ts > .test-logs/e2e/dashboard.log",
    url: `http://localhost:${PORT}/api/health`,
    timeout: 120_000,
    reuseExistingServer: false,
    // As a service manager stops it: SIGTERM, so it stops its embedded PostgreSQL (SIGKILL after 20 s).
    gracefulShutdown: { signal: "SIGTERM", timeout: 20_000 },
    stdout: "ignore",
    stderr: "pipe",
    env: {
      NODE_ENV: "production",
      PORT: String(PORT),
      SNAPFLEET_DATA_DIR: dataDir,
      SNAPFLEET_PG_PORT: String(PORT + 10),
      NEXT_TELEMETRY_DISABLED: "1",
      LOG_LEVEL: "info",
      // Hosts the journeys add live in temp dirs (lib/fleet/host-paths.ts).
      SNAPFLEET_HOST_ROOTS: tmpdir(),
    },
  },
});
