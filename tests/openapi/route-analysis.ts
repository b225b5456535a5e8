// Reads the app/api route files the way the OpenAPI drift test needs: which HTTP methods each exports,
// and for each method which schema it passes to parseBody / parseQuery — resolved through the file's
// imports to the module and export name, so the test can import it and compare it by identity with the
// registry's. Uses TypeScript's own parser (no type check: fast), not regular expressions.
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import ts from "typescript";
import type { HttpMethod } from "../../lib/auth/route-rules";
import { patternOf } from "../support/app-routes";

export const ROOT = path.resolve(import.meta.dirname, "../..");
const METHODS: HttpMethod[] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
const PARSERS = { parseBody: "body", parseQuery: "query" } as const;
/** Ways to read a request's input that bypass a schema. */
const RAW_READS = new Set(["json", "text", "formData", "arrayBuffer", "blob"]);

export type InputKind = "body" | "query";

/** Where the schema argument comes from: an import (module file + export name), or why it cannot be resolved. */
export type SchemaSource = { module: string; exportName: string } | { unresolved: string };

export interface ParseCall {
  kind: InputKind;
  source: SchemaSource;
  line: number;
}

export interface RouteFileAnalysis {
  /** App-router pattern, e.g. "/api/hosts/[id]/discover". */
  pattern: string;
  file: string;
  methods: Map<HttpMethod, ParseCall[]>;
  /** Problems that make the file's inputs impossible to check (with line numbers). */
  problems: string[];
}

function hasExport(node: ts.Node): boolean {
  return ts.canHaveModifiers(node) && (ts.getModifiers(node) ?? []).some((m) => m.kind === ts.SyntaxKind.ExportKeyword);
}

function resolveModule(specifier: string, fromFile: string): string {
  const base = specifier.startsWith("@/")
    ? path.join(ROOT, specifier.slice(2))
    : path.resolve(path.dirname(fromFile), specifier);
  for (const candidate of [base, `${base}.ts`, `${base}.tsx`, path.join(base, "index.ts")]) {
    if (existsSync(candidate) && !candidate.endsWith(path.sep) && /\.(ts|tsx|js|mjs)$/.test(candidate))
      return candidate;
  }
  return base;
}

/** Named and namespace imports of the file: local name → where it comes from. */
function importsOf(sf: ts.SourceFile, file: string) {
  const named = new Map<string, { module: string; exportName: string }>();
  const namespaces = new Map<string, string>();
  for (const st of sf.statements) {
    if (!ts.isImportDeclaration(st) || !ts.isStringLiteral(st.moduleSpecifier) || st.importClause?.isTypeOnly) continue;
    const module = resolveModule(st.moduleSpecifier.text, file);
    const bindings = st.importClause?.namedBindings;
    if (bindings && ts.isNamedImports(bindings)) {
      for (const el of bindings.elements)
        if (!el.isTypeOnly) named.set(el.name.text, { module, exportName: (el.propertyName ?? el.name).text });
    } else if (bindings && ts.isNamespaceImport(bindings)) {
      namespaces.set(bindings.name.text, module);
    }
  }
  return { named, namespaces };
}

function schemaSource(
  arg: ts.Expression | undefined,
  imports: ReturnType<typeof importsOf>,
  sf: ts.SourceFile,
): SchemaSource {
  if (!arg) return { unresolved: "no schema argument" };
  if (ts.isIdentifier(arg)) {
    const imported = imports.named.get(arg.text);
    if (imported) return imported;
    return {
      unresolved: `\`${arg.text}\` is declared in the route file; export it from lib/validations and import it`,
    };
  }
  if (
    ts.isPropertyAccessExpression(arg) &&
    ts.isIdentifier(arg.expression) &&
    imports.namespaces.has(arg.expression.text)
  ) {
    return { module: imports.namespaces.get(arg.expression.text)!, exportName: arg.name.text };
  }
  return { unresolved: `\`${arg.getText(sf)}\` is an expression; pass an exported schema by name` };
}

/** Analyses one route file's source (the file need not exist: tests feed sources of their own). */
export function analyseRouteSource(file: string, source: string): RouteFileAnalysis {
  const sf = ts.createSourceFile(file, source, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const imports = importsOf(sf, file);
  const methods = new Map<HttpMethod, ParseCall[]>();
  const ranges: Array<{ method: HttpMethod; node: ts.Node }> = [];
  const problems: string[] = [];
  const lineOf = (n: ts.Node) => sf.getLineAndCharacterOfPosition(n.getStart(sf)).line + 1;

  for (const st of sf.statements) {
    if (ts.isFunctionDeclaration(st) && hasExport(st) && st.name && METHODS.includes(st.name.text as HttpMethod)) {
      ranges.push({ method: st.name.text as HttpMethod, node: st });
    } else if (ts.isVariableStatement(st) && hasExport(st)) {
      for (const d of st.declarationList.declarations) {
        if (ts.isIdentifier(d.name) && METHODS.includes(d.name.text as HttpMethod))
          ranges.push({ method: d.name.text as HttpMethod, node: d });
      }
    } else if (ts.isExportDeclaration(st) && st.exportClause && ts.isNamedExports(st.exportClause)) {
      for (const el of st.exportClause.elements) {
        if (METHODS.includes(el.name.text as HttpMethod))
          problems.push(
            `line ${lineOf(el)}: export ${el.name.text} as a declaration (export const ${el.name.text} = route(…)) so its inputs can be checked`,
          );
      }
    }
  }
  for (const r of ranges) methods.set(r.method, []);

  const visit = (node: ts.Node) => {
    if (ts.isCallExpression(node)) {
      const callee = node.expression;
      const name = ts.isIdentifier(callee)
        ? callee.text
        : ts.isPropertyAccessExpression(callee)
          ? callee.name.text
          : "";
      if (name in PARSERS && ts.isIdentifier(callee)) {
        const owner = ranges.find((r) => node.getStart(sf) >= r.node.getStart(sf) && node.getEnd() <= r.node.getEnd());
        const call: ParseCall = {
          kind: PARSERS[name as keyof typeof PARSERS],
          source: schemaSource(node.arguments[1], imports, sf),
          line: lineOf(node),
        };
        if (owner) methods.get(owner.method)!.push(call);
        else
          problems.push(`line ${call.line}: ${name}() outside an exported method handler; call it inside the handler`);
      }
      if (
        ts.isPropertyAccessExpression(callee) &&
        RAW_READS.has(callee.name.text) &&
        ts.isIdentifier(callee.expression) &&
        /^req(uest)?$/.test(callee.expression.text)
      ) {
        problems.push(
          `line ${lineOf(node)}: ${callee.expression.text}.${callee.name.text}() reads the input without a schema; use parseBody(req, schema)`,
        );
      }
    }
    if (ts.isPropertyAccessExpression(node) && node.name.text === "searchParams") {
      problems.push(`line ${lineOf(node)}: reads searchParams without a schema; use parseQuery(req, schema)`);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return { pattern: patternOf(file), file: path.relative(ROOT, file), methods, problems };
}

export function analyseRouteFile(file: string): RouteFileAnalysis {
  return analyseRouteSource(file, readFileSync(file, "utf8"));
}
