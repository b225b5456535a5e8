// The README's environment-variable table, generated from the config schema (lib/config.ts) so the two
// cannot drift: `npm run docs:config` rewrites the block between the markers below, and
// tests/config/config.test.ts fails when README.md differs from what this renders.
import { envSchema, type VariableDoc } from "./config";

export const ENV_TABLE_START = "<!-- config:env -->";
export const ENV_TABLE_END = "<!-- /config:env -->";

function shownDefault(doc: VariableDoc): string {
  if (doc.default === undefined) return "—";
  const code = "`";
  return doc.default.includes(code) || /\s/.test(doc.default) ? doc.default : `${code}${doc.default}${code}`;
}

/** The Markdown table: one row per variable, in the schema's order. */
export function renderEnvTable(): string {
  const rows = Object.entries(envSchema.shape).map(([name, schema]) => {
    const doc = schema.meta() as VariableDoc;
    return `| \`${name}\` | ${shownDefault(doc)} | ${doc.usedBy} | ${doc.description} |`;
  });
  return ["| variable | default | read by | meaning |", "| --- | --- | --- | --- |", ...rows].join("\n");
}

/** `readme` with the block between the markers replaced by the current table; throws without markers. */
export function withEnvTable(readme: string): string {
  const start = readme.indexOf(ENV_TABLE_START);
  const end = readme.indexOf(ENV_TABLE_END);
  if (start < 0 || end < start) throw new Error(`README.md has no ${ENV_TABLE_START} … ${ENV_TABLE_END} block`);
  return `${readme.slice(0, start + ENV_TABLE_START.length)}\n${renderEnvTable()}\n${readme.slice(end)}`;
}
