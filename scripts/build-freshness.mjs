// Whether the dashboard's production build is missing or older than its sources (app/, components/,
// lib/; generated code and dot-directories aside): `npm start` and the bench build it then.
import { existsSync, readdirSync, statSync } from "node:fs";
import path from "node:path";

function newestMtime(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === "generated" || entry.name.startsWith(".")) continue;
    const p = path.join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

/** @param {string} root the repository root @returns {boolean} */
export function dashboardBuildIsStale(root) {
  const buildId = path.join(root, ".next", "BUILD_ID");
  const sources = ["app", "components", "lib"].map((d) => path.join(root, d)).filter(existsSync);
  return !existsSync(buildId) || Math.max(...sources.map(newestMtime)) > statSync(buildId).mtimeMs;
}
