// Human output of the CLI's verbs: aligned tables, byte counts, durations and short ids. Pure functions;
// `--json` output never goes through here (it prints the dashboard's own documents).
import { toBinaryUnit } from "../binary-units";

/** 1536 → "1.5 KiB"; binary units as QEMU and the dashboard show them. */
export function formatBytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return "-";
  const { value: v, unit } = toBinaryUnit(n);
  return unit === "B" ? `${v} B` : `${v.toFixed(v < 10 ? 1 : 0)} ${unit}`;
}

/** 850 → "850 ms", 3200 → "3.2 s", 125000 → "2m05s". */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return "-";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
}

/** ISO → "2026-12-04 23:05:12" in UTC (scripts want --json; this is for eyes). */
export function formatTime(iso: string | null | undefined): string {
  if (!iso) return "-";
  return iso.replace("T", " ").replace(/\.\d+Z$|Z$/, "");
}

/** The first 8 characters of a UUID: what lists show, and what `snapshots delete` etc. accept back. */
export function shortId(id: string): string {
  return id.slice(0, 8);
}

/** Columns padded to their widest cell; the last column is not padded. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)].join("\n") + "\n";
}
