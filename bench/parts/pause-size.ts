// The size dimension of `npm run bench -- pause --sizes=1,4,8`: how the guest pause of a consistent
// snapshot grows with guest RAM (85 % of it resident), per method, QEMU version, load and first vs nth
// snapshot of a QEMU process, with where the pause goes (QEMU's own event timestamps). Renders the size
// table of docs/performance.md and its headline `consistent 8 GiB pause: N ms` — the worst median of
// Snapfleet `live` at 8 GiB over every QEMU version measured (one result file per version:
// pause-size-latest.json for the system QEMU, pause-size-<tag>-latest.json for others).
import type { ResultFile } from "../lib/report";
import { fmt, provenance, table, type Cell } from "../lib/report";
import { summarize } from "../lib/stats";
import type { PauseResult, PauseSample } from "./pause";

export interface SizeRun {
  sizeGiB: number;
  result: PauseResult;
}

const ORDER = ["snapfleet-live", "strategy", "classic", "precopy", "savevm", "ram-only", "libvirt"];

function pair(xs: Array<number | undefined>): string {
  const s = summarize(xs);
  return s.n ? `${fmt(s.median, 1)} / ${fmt(s.max, 1)}` : "—";
}

/** 2 → "2nd", 10 → "10th", 12 → "12th". */
function ordinal(n: number): string {
  const teen = n % 100 >= 11 && n % 100 <= 13;
  return `${n}${teen ? "th" : (["th", "st", "nd", "rd"][n % 10] ?? "th")}`;
}

/**
 * One row per (method, size, load): 1st, 2nd…(nth-1) (when nth > 2) and nth pause (median / max), then where
 * the pause went (medians over every snapshot of the row).
 */
export function renderSizeTable(file: ResultFile<SizeRun[]>): string {
  const rows: Cell[][] = [];
  const runs = file.data;
  const nth = runs[0]?.result.options.nth ?? 2;
  const methods = [
    ...new Set(runs.flatMap((r) => r.result.methods.filter((m) => !m.unavailable).map((m) => m.id))),
  ].sort((a, b) => ORDER.indexOf(a) - ORDER.indexOf(b));
  for (const method of methods) {
    for (const { sizeGiB, result } of runs) {
      const label = result.methods.find((m) => m.id === method)?.label ?? method;
      for (const load of result.options.loads) {
        const mine = result.samples.filter((s) => s.method === method && s.load === load);
        const ok = mine.filter((s) => s.ok);
        const first = ok.filter((s) => s.ordinal === 1);
        const between = ok.filter((s) => s.ordinal > 1 && s.ordinal < nth);
        const later = ok.filter((s) => s.ordinal >= nth);
        const med = (f: (s: PauseSample) => number | undefined) => fmt(summarize(ok.map(f)).median, 1);
        const loads = mine.map((s) => s.load1);
        rows.push([
          label,
          `${sizeGiB} GiB`,
          load,
          pair(first.map((s) => s.pauseMs)),
          ...(nth > 2 ? [pair(between.map((s) => s.pauseMs))] : []),
          pair(later.map((s) => s.pauseMs)),
          med((s) => s.breakdown?.commandsMs),
          med((s) => s.breakdown?.setupMs),
          med((s) => s.breakdown?.deviceMs),
          `${first.length}+${nth > 2 ? `${between.length}+` : ""}${later.length}${mine.length > ok.length ? ` (${mine.length - ok.length} failed)` : ""}`,
          loads.length ? `${fmt(Math.min(...loads), 1)}–${fmt(Math.max(...loads), 1)}` : "—",
        ]);
      }
    }
  }
  return [
    `${file.machine.qemu}: guests with 85 % of their RAM written once (idle) or also rewriting 384 MiB continuously (busy); guest pause in ms, median / max. STOP→setup = our commands inside the pause (gated, lib/snapshots/ram-walk-gate.ts: STOP→active, QEMU's RAM walk ran before the STOP); setup→active = QEMU's RAM walk (ram_write_tracking_prepare) + setup; active→RESUME = device state + write protection + resume.`,
    "",
    table(
      [
        "method",
        "guest RAM",
        "load",
        "pause 1st (ms)",
        ...(nth > 2 ? [`pause 2nd–${ordinal(nth - 1)} (ms)`] : []),
        `pause ${ordinal(nth)} (ms)`,
        "STOP→setup ms",
        "setup→active ms",
        "active→RESUME ms",
        "n",
        "host load",
      ],
      rows,
    ),
    "",
    `Produced by ${provenance(file)}`,
  ].join("\n");
}

/** `consistent 8 GiB pause: N ms` — the worst median of Snapfleet `live` at 8 GiB over the given QEMU versions. */
export function sizeHeadline(files: Array<ResultFile<SizeRun[]>>): string | undefined {
  let worst: { ms: number; where: string } | undefined;
  for (const f of files) {
    const run = f.data.find((r) => r.sizeGiB === 8);
    for (const c of run?.result.cells.filter((c) => c.method === "snapfleet-live" && c.pause.median !== null) ?? []) {
      if (!worst || (c.pause.median ?? 0) > worst.ms)
        worst = {
          ms: c.pause.median ?? 0,
          where: `${f.machine.qemu.split(" (")[0]}, ${c.load}, ${c.which === "first" ? "1st" : "later"} snapshot`,
        };
    }
  }
  return worst ? `consistent 8 GiB pause: ${Math.round(worst.ms)} ms (worst median: ${worst.where})` : undefined;
}
