// Output of benchmark parts: aligned tables on the console (also valid Markdown), result files under
// bench/results/ (<part>-latest.json only, which docs rendering reads: older runs are in git history), and
// the generated sections of docs/performance.md between `<!-- bench:<name> -->` and
// `<!-- /bench:<name> -->` markers (text outside the markers is never touched).
import { mkdirSync, readFileSync, writeFileSync, existsSync } from "node:fs";
import path from "node:path";
import { describeMachine, loadSample, machineInfo, type LoadSample, type MachineInfo } from "./machine";

export const REPO_ROOT = path.resolve(import.meta.dirname, "../..");
export const RESULTS_DIR = path.join(REPO_ROOT, "bench", "results");
export const DOCS_FILE = path.join(REPO_ROOT, "docs", "performance.md");

export type Cell = string | number | null | undefined;

export function fmt(v: number | null | undefined, digits = 0): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return "—";
  return v.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function table(headers: string[], rows: Cell[][]): string {
  const text = rows.map((r) => r.map((c) => (c === null || c === undefined ? "—" : String(c))));
  const widths = headers.map((h, i) => Math.max(h.length, ...text.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(" | ")} |`;
  return [line(headers), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...text.map(line)].join("\n");
}

export interface ResultFile<T> {
  part: string;
  command: string;
  startedAt: string;
  finishedAt: string;
  durationS: number;
  machine: MachineInfo;
  loadAtStart: LoadSample;
  loadAtEnd: LoadSample;
  data: T;
}

export function writeResult<T>(part: string, startedAt: Date, loadAtStart: LoadSample, data: T): ResultFile<T> {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const finishedAt = new Date();
  const result: ResultFile<T> = {
    part,
    command: `npm run bench -- ${
      process.argv
        .slice(2)
        .filter((a) => a !== "--")
        .join(" ") || part
    }`,
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    durationS: Math.round((finishedAt.getTime() - startedAt.getTime()) / 100) / 10,
    machine: machineInfo(),
    loadAtStart,
    loadAtEnd: loadSample(),
    data,
  };
  writeFileSync(path.join(RESULTS_DIR, `${part}-latest.json`), `${JSON.stringify(result, null, 2)}\n`);
  return result;
}

/** `<part>-latest.json`; "pause-before" reads the kept reference run pause-before.json. */
export function readLatest<T>(part: string): ResultFile<T> | undefined {
  const file = path.join(RESULTS_DIR, part === "pause-before" ? "pause-before.json" : `${part}-latest.json`);
  return existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as ResultFile<T>) : undefined;
}

export function provenance(r: ResultFile<unknown>): string {
  const l = (s: LoadSample) =>
    `load ${s.load1}${s.cpuPressure10 === null ? "" : `, CPU pressure ${s.cpuPressure10} %`}`;
  return `\`${r.command}\`, ${r.startedAt.slice(0, 16).replace("T", " ")} UTC, ${r.durationS} s; ${describeMachine(r.machine)}; ${l(r.loadAtStart)} at start, ${l(r.loadAtEnd)} at end.`;
}

/** Replaces the body of a generated section of docs/performance.md; appends the section if missing. */
export function updateDocsSection(name: string, markdown: string, file = DOCS_FILE): void {
  const open = `<!-- bench:${name} -->`;
  const close = `<!-- /bench:${name} -->`;
  const doc = existsSync(file) ? readFileSync(file, "utf8") : "";
  const block = `${open}\n${markdown.trim()}\n${close}`;
  const start = doc.indexOf(open);
  const end = doc.indexOf(close);
  const next =
    start >= 0 && end > start
      ? doc.slice(0, start) + block + doc.slice(end + close.length)
      : `${doc.trimEnd()}\n\n${block}\n`;
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, next);
}
