// `npm run bench -- docs`: re-renders the generated sections of docs/performance.md from the latest
// result file of each part (bench/results/<part>-latest.json), without measuring anything. The
// before/after table compares Snapfleet `live` in bench/results/pause-before.json (the product before
// the pause strategy, kept as the reference) with the latest pause run.
import { fmt, provenance, readLatest, table, updateDocsSection, type ResultFile } from "../lib/report";
import { renderHistory, type HistoryData } from "./history";
import { renderLatency, type LatencyData } from "./latency";
import { renderOverhead, type OverheadData } from "./overhead";
import { renderPauseTables, type PauseCell, type PauseResult } from "./pause";
import { renderSizeTable, sizeHeadline, type SizeRun } from "./pause-size";

type CellOf = (load: string, which: string) => PauseCell | undefined;

function cellIn(r: ResultFile<PauseResult>, method: string): CellOf {
  return (load, which) => r.data.cells.find((c) => c.method === method && c.load === load && c.which === which);
}

/** Rows [case, left median / max, right median / max, left ÷ right] for idle/busy × 1st/10th. */
function comparisonRows(left: CellOf, right: CellOf): string[][] {
  const f = (c?: PauseCell) => (c ? `${fmt(c.pause.median, 1)} / ${fmt(c.pause.max, 1)}` : "—");
  return (["idle", "busy"] as const).flatMap((load) =>
    (["first", "tenth"] as const).map((which) => {
      const l = left(load, which);
      const r = right(load, which);
      const x = l?.pause.median && r?.pause.median ? `${fmt(l.pause.median / r.pause.median, 1)}×` : "—";
      return [`${load}, ${which === "first" ? "1st" : "10th"} snapshot`, f(l), f(r), x];
    }),
  );
}

/** A titled comparison table: `columns` names the two sides being compared and their ratio. */
function comparison(title: string, columns: [string, string, string], left: CellOf, right: CellOf): string[] {
  return [title, "", table(["case", ...columns], comparisonRows(left, right)), ""];
}

export function renderBeforeAfter(before: ResultFile<PauseResult>, after: ResultFile<PauseResult>): string {
  return [
    ...comparison(
      "Snapfleet `live` through the API, guest pause in ms (median / max of ≥ 3 runs):",
      ["before (naive sequence)", "after (pause strategy)", "median before / after"],
      cellIn(before, "snapfleet-live"),
      cellIn(after, "snapfleet-live"),
    ),
    `Before: ${provenance(before)}`,
    "",
    `After: ${provenance(after)}`,
  ].join("\n");
}

/** Same run, same load: the naive sequence vs the pause strategy, both over bare QMP (pause-ab). */
export function renderAb(r: ResultFile<PauseResult>): string {
  return [
    ...comparison(
      "The same comparison in one run (naive first, then the strategy, on fresh guest-kit VMs of the same machine), over bare QMP — no product around it; guest pause in ms (median / max):",
      ["naive: stop → transaction → migrate", "pause strategy", "median naive / strategy"],
      cellIn(r, "classic"),
      cellIn(r, "strategy"),
    ),
    `Produced by ${provenance(r)}`,
  ].join("\n");
}

/** The QEMU ≥ 9 path (pause-qemu10: Snapfleet `live`; pause-qemu10-classic: the naive sequence, no collapse). */
export function renderQemu10(product: ResultFile<PauseResult>, naive: ResultFile<PauseResult> | undefined): string {
  const none: CellOf = () => undefined;
  const h = product.data.headline;
  return [
    ...comparison(
      `${product.machine.qemu}, guest pause in ms (median / max):`,
      [
        "naive: stop → transaction → migrate (+ cont), no collapse",
        "Snapfleet `live` (API)",
        "median naive / Snapfleet",
      ],
      naive ? cellIn(naive, "classic") : none,
      cellIn(product, "snapfleet-live"),
    ),
    h ? `Worst median of the four cases through Snapfleet: ${fmt(h.ms, 1)} ms (${h.worstCase}).` : "",
    "",
    `Snapfleet: ${provenance(product)}`,
    ...(naive ? ["", `Naive: ${provenance(naive)}`] : []),
  ].join("\n");
}

export function renderDocs(): void {
  const ab = readLatest<PauseResult>("pause-ab");
  if (ab) updateDocsSection("ab", renderAb(ab));
  const qemu10 = readLatest<PauseResult>("pause-qemu10");
  if (qemu10) updateDocsSection("qemu10", renderQemu10(qemu10, readLatest<PauseResult>("pause-qemu10-classic")));
  const pause = readLatest<PauseResult>("pause");
  if (pause) {
    updateDocsSection("pause", `${renderPauseTables(pause.data)}\n\nProduced by ${provenance(pause)}`);
    if (pause.data.headline)
      updateDocsSection("headline", `consistent 1 GiB pause: ${Math.round(pause.data.headline.ms ?? 0)} ms`);
    const before = readLatest<PauseResult>("pause-before");
    if (before && before.startedAt !== pause.startedAt)
      updateDocsSection("before-after", renderBeforeAfter(before, pause));
  }
  const sizeRuns = [readLatest<SizeRun[]>("pause-size"), readLatest<SizeRun[]>("pause-size-qemu10")].filter(
    (f) => f !== undefined,
  );
  if (sizeRuns.length) {
    updateDocsSection("pause-size", sizeRuns.map(renderSizeTable).join("\n\n"));
    const h = sizeHeadline(sizeRuns);
    if (h) updateDocsSection("size-headline", h);
  }
  // The same-run A/B of the RAM-walk gate (`--methods=snapfleet,strategy --tag=ab`): its own section.
  const sizeAb = readLatest<SizeRun[]>("pause-size-ab");
  if (sizeAb) updateDocsSection("pause-size-ab", renderSizeTable(sizeAb));
  const overhead = readLatest<OverheadData>("overhead");
  if (overhead) updateDocsSection("overhead", renderOverhead(overhead));
  const latency = readLatest<LatencyData>("latency");
  if (latency) updateDocsSection("latency", renderLatency(latency));
  const history = readLatest<HistoryData>("history");
  if (history) updateDocsSection("history", renderHistory(history));
}
