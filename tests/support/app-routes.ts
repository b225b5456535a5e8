// The app router's route files as the route tests read them: every app/api/**/route.* file, and the
// URL pattern a file serves in the router's own spelling ("/api/hosts/[id]/discover"). One definition for
// tests/auth/route-rules.test.ts (every route has a rule) and tests/openapi (every route is documented).
import { readdirSync } from "node:fs";
import path from "node:path";

export const APP = path.resolve(import.meta.dirname, "../../app");

export function routeFiles(dir = path.join(APP, "api")): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...routeFiles(p));
    else if (/^route\.(ts|tsx|js|mjs)$/.test(e.name)) out.push(p);
  }
  return out.sort();
}

export function patternOf(file: string): string {
  const rel = path.relative(APP, path.dirname(file)).split(path.sep);
  // Route groups "(x)" are not part of the URL.
  return `/${rel.filter((s) => !(s.startsWith("(") && s.endsWith(")"))).join("/")}`;
}
