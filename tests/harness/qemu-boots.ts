// Which test files boot QEMU, read statically with TypeScript's parser: a file boots QEMU when it uses a
// booting helper — one of ROOTS (tests/support/qemu.ts's startVm, startVms, restartVm) or any function of
// the test-side code (tests/, bench/) that uses one, followed through imports and re-exports to any depth
// — or calls spawn/execFile on a qemu-system binary itself. Type-only imports do not count, and neither
// does a helper's module being imported for something else (guest-kit.ts's parseGuestTicks boots nothing).
// Product code (lib/) is not followed: it starts QEMU only to restore a VM a test has already booted.
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import ts from "typescript";

export const REPO = path.resolve(import.meta.dirname, "../..");
const QEMU_HELPERS = path.join(REPO, "tests/support/qemu.ts");
/** The functions that start a QEMU process; everything else boots through them. */
export const ROOTS: ReadonlyArray<{ module: string; name: string }> = ["startVm", "startVms", "restartVm"].map(
  (name) => ({ module: QEMU_HELPERS, name }),
);
const FOLLOWED = [path.join(REPO, "tests") + path.sep, path.join(REPO, "bench") + path.sep];
const SPAWNS = new Set(["spawn", "spawnSync", "execFile", "execFileSync"]);

interface Binding {
  module: string;
  name: string; // the imported name; "*" for a namespace import
}

interface Module {
  file: string;
  source: ts.SourceFile;
  imports: Map<string, Binding>; // local name → what it is bound to
  locals: Map<string, ts.Node>; // top-level declarations by name
  exports: Map<string, string | Binding>; // exported name → local name, or a re-export
}

function resolveImport(from: string, specifier: string): string | undefined {
  if (!specifier.startsWith(".")) return undefined;
  const base = path.resolve(path.dirname(from), specifier);
  const file = [base, `${base}.ts`, `${base}.tsx`, path.join(base, "index.ts")].find(
    (f) => /\.tsx?$/.test(f) && existsSync(f),
  );
  return file && FOLLOWED.some((dir) => file.startsWith(dir)) ? file : undefined;
}

const hasModifier = (node: ts.Node, kind: ts.SyntaxKind) =>
  ts.canHaveModifiers(node) && (ts.getModifiers(node) ?? []).some((m) => m.kind === kind);

function parse(file: string): Module {
  const source = ts.createSourceFile(file, readFileSync(file, "utf8"), ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const mod: Module = { file, source, imports: new Map(), locals: new Map(), exports: new Map() };
  for (const st of source.statements) {
    if (ts.isImportDeclaration(st) && ts.isStringLiteral(st.moduleSpecifier)) {
      const target = resolveImport(file, st.moduleSpecifier.text);
      const clause = st.importClause;
      if (!target || !clause || clause.isTypeOnly) continue;
      if (clause.name) mod.imports.set(clause.name.text, { module: target, name: "default" });
      const bindings = clause.namedBindings;
      if (bindings && ts.isNamespaceImport(bindings))
        mod.imports.set(bindings.name.text, { module: target, name: "*" });
      if (bindings && ts.isNamedImports(bindings)) {
        for (const el of bindings.elements)
          if (!el.isTypeOnly)
            mod.imports.set(el.name.text, { module: target, name: (el.propertyName ?? el.name).text });
      }
    } else if (ts.isExportDeclaration(st) && !st.isTypeOnly && st.exportClause && ts.isNamedExports(st.exportClause)) {
      const target =
        st.moduleSpecifier && ts.isStringLiteral(st.moduleSpecifier)
          ? resolveImport(file, st.moduleSpecifier.text)
          : undefined;
      for (const el of st.exportClause.elements) {
        const inner = (el.propertyName ?? el.name).text;
        if (st.moduleSpecifier) {
          if (target) mod.exports.set(el.name.text, { module: target, name: inner });
        } else mod.exports.set(el.name.text, inner);
      }
    } else if ((ts.isFunctionDeclaration(st) || ts.isClassDeclaration(st)) && st.name) {
      mod.locals.set(st.name.text, st);
      if (hasModifier(st, ts.SyntaxKind.ExportKeyword)) mod.exports.set(st.name.text, st.name.text);
    } else if (ts.isVariableStatement(st)) {
      for (const d of st.declarationList.declarations) {
        if (!ts.isIdentifier(d.name)) continue;
        mod.locals.set(d.name.text, d);
        if (hasModifier(st, ts.SyntaxKind.ExportKeyword)) mod.exports.set(d.name.text, d.name.text);
      }
    }
  }
  return mod;
}

/** Answers "does this boot QEMU?" for names of the test-side modules, memoized across files. */
export class QemuBootAnalysis {
  private readonly modules = new Map<string, Module>();
  private readonly verdicts = new Map<string, boolean>();

  private module(file: string): Module {
    let mod = this.modules.get(file);
    if (!mod) this.modules.set(file, (mod = parse(file)));
    return mod;
  }

  /** Whether `name` exported by `file` boots QEMU when used ("*": any of its exports does). */
  exportBoots(file: string, name: string): boolean {
    const key = `${file}#${name}`;
    const known = this.verdicts.get(key);
    if (known !== undefined) return known;
    this.verdicts.set(key, false); // a cycle adds nothing
    const mod = this.module(file);
    let boots: boolean;
    if (ROOTS.some((r) => r.module === file && r.name === name)) boots = true;
    else if (name === "*") boots = [...mod.exports.keys()].some((n) => this.exportBoots(file, n));
    else {
      const target = mod.exports.get(name);
      if (target === undefined) boots = false;
      else if (typeof target !== "string") boots = this.exportBoots(target.module, target.name);
      else if (mod.imports.has(target)) boots = this.bindingBoots(mod.imports.get(target)!);
      else boots = this.localBoots(mod, target);
    }
    this.verdicts.set(key, boots);
    return boots;
  }

  private bindingBoots(b: Binding): boolean {
    return this.exportBoots(b.module, b.name);
  }

  private localBoots(mod: Module, name: string): boolean {
    const key = `${mod.file}@${name}`;
    const known = this.verdicts.get(key);
    if (known !== undefined) return known;
    this.verdicts.set(key, false);
    const node = mod.locals.get(name);
    const boots = node !== undefined && this.uses(mod, node).length > 0;
    this.verdicts.set(key, boots);
    return boots;
  }

  /** What in `node` boots QEMU: the booting names it uses and its own qemu-system spawns. */
  private uses(mod: Module, node: ts.Node): string[] {
    const found = new Set<string>();
    const visit = (n: ts.Node): void => {
      if (ts.isImportDeclaration(n)) return;
      if (ts.isIdentifier(n) && !isPropertyName(n)) {
        const b = mod.imports.get(n.text);
        if (
          b
            ? this.bindingBoots(b)
            : mod.locals.has(n.text) && mod.locals.get(n.text) !== node && this.localBoots(mod, n.text)
        )
          found.add(n.text);
      }
      if (
        ts.isCallExpression(n) &&
        SPAWNS.has(calleeName(n)) &&
        n.arguments[0] &&
        /qemu-system|SNAPFLEET_QEMU\b(?!_)/.test(n.arguments[0].getText(mod.source))
      ) {
        found.add(`${calleeName(n)}(${n.arguments[0].getText(mod.source)})`);
      }
      ts.forEachChild(n, visit);
    };
    visit(node);
    return [...found];
  }

  /** The booting helpers a test file uses (empty: it does not boot QEMU). */
  bootingUses(testFile: string): string[] {
    const mod = this.module(testFile);
    return this.uses(mod, mod.source);
  }
}

function calleeName(call: ts.CallExpression): string {
  const e = call.expression;
  return ts.isIdentifier(e) ? e.text : ts.isPropertyAccessExpression(e) ? e.name.text : "";
}

/** `x.name`, `{ name: … }`, `name() {}` in a class or object: a name, not a use of a binding. */
function isPropertyName(id: ts.Identifier): boolean {
  const p = id.parent;
  return (
    (ts.isPropertyAccessExpression(p) && p.name === id) ||
    ((ts.isPropertyAssignment(p) ||
      ts.isMethodDeclaration(p) ||
      ts.isPropertyDeclaration(p) ||
      ts.isPropertySignature(p)) &&
      p.name === id)
  );
}
