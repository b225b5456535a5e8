#!/usr/bin/env node
// `npm start`: checks the configuration (lib/config.ts: an invalid variable stops here, before a build),
// builds the dashboard when there is no build or the sources are newer than it, then runs server.ts in
// production mode (embedded PostgreSQL unless DATABASE_URL is set). The children get this process's
// environment, plus what this launcher sets.
import { spawnSync, spawn } from "node:child_process";
import path from "node:path";
import { dashboardBuildIsStale } from "./build-freshness.mjs";
import { ConfigError, inheritedEnvironment, loadConfig } from "../lib/config.ts";

const env = inheritedEnvironment(undefined, { NEXT_TELEMETRY_DISABLED: "1" });
const serverEnv = { ...env, NODE_ENV: "production" };
try {
  loadConfig(serverEnv);
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  console.error(`Snapfleet failed to start: ${err.message}.`);
  process.exit(1);
}
const root = path.resolve(import.meta.dirname, "..");
if (dashboardBuildIsStale(root)) {
  console.log("Building the dashboard (first start or sources changed)…");
  const build = spawnSync("next", ["build"], { cwd: root, stdio: "inherit", env });
  if (build.status !== 0) process.exit(build.status ?? 1);
}
const server = spawn("tsx", ["server.ts"], { cwd: root, stdio: "inherit", env: serverEnv });
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => server.kill(signal));
server.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
