// Vitest: unit tests and integration tests against real PostgreSQL and real QEMU.
// Files run in parallel forks (2 cores: at most 2 at once); each file gets its own database.
import os from "node:os";
import path from "node:path";
import { defineConfig } from "vitest/config";

export default defineConfig({
  resolve: { alias: { "@": path.resolve(import.meta.dirname) } },
  test: {
    include: ["tests/**/*.test.ts"],
    globalSetup: ["tests/support/global-setup.ts"],
    // The code under test logs to .test-logs/<test file>.log, not between the reporter's lines; a failed
    // file's log path and last lines are printed after the summary (tests/support/test-logs.ts).
    setupFiles: ["tests/support/test-log-setup.ts"],
    reporters: ["default", "./tests/support/test-log-reporter.ts"],
    pool: "forks",
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    teardownTimeout: 30_000,
    // Host definitions may only point under SNAPFLEET_HOST_ROOTS (lib/fleet/host-paths.ts): the tests'
    // sockets, keys and snapshot directories are temp dirs. tests/fleet/host-paths.test.ts sets its own.
    env: { SNAPFLEET_HOST_ROOTS: process.env.SNAPFLEET_HOST_ROOTS || os.tmpdir() },
  },
});
