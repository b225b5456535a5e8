// `npm run docs:config`: rewrites README.md's environment-variable table from the config schema
// (lib/config.ts, rendered by lib/config-docs.ts). tests/config/config.test.ts fails until it is run
// after a variable is added, removed or described differently.
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { withEnvTable } from "../lib/config-docs";

const readmePath = path.resolve(import.meta.dirname, "..", "README.md");
const before = readFileSync(readmePath, "utf8");
const after = withEnvTable(before);
if (after === before) console.log("README.md's configuration table is up to date");
else {
  writeFileSync(readmePath, after);
  console.log("README.md's configuration table rewritten from lib/config.ts");
}
