#!/usr/bin/env node
// `npm start`: builds the dashboard when there is no build or the sources are newer than it, then runs
// server.ts in production mode (embedded PostgreSQL unless DATABASE_URL is set).
import { spawnSync, spawn } from "node:child_process";
import path from "node:path";
import { dashboardBuildIsStale } from "./build-freshness.mjs";

const root = path.resolve(import.meta.dirname, "..");
const env = { ...process.env, NEXT_TELEMETRY_DISABLED: "1" };
if (dashboardBuildIsStale(root)) {
  console.log("Building the dashboard (first start or sources changed)…");
  const build = spawnSync("next", ["build"], { cwd: root, stdio: "inherit", env });
  if (build.status !== 0) process.exit(build.status ?? 1);
}
const server = spawn("tsx", ["server.ts"], { cwd: root, stdio: "inherit", env: { ...env, NODE_ENV: "production" } });
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => server.kill(signal));
server.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
