// `npm run bench -- docs`: re-renders the generated sections of docs/performance.md from the latest
// result file of each part (bench/results/<part>-latest.json), without measuring anything. The
// before/after table compares Snapfleet `live` in bench/results/pause-before.json (the product before
// the pause strategy, kept as the reference) with the latest pause run.
import { fmt, provenance, readLatest, table, updateDocsSection, type ResultFile } from "../lib/report";
import { renderLatency, type LatencyData } from "./latency";
import { renderOverhead, type OverheadData } from "./overhead";
import { renderPauseTables, type PauseCell, type PauseResult } from "./pause";

function liveCell(r: ResultFile<PauseResult>, load: string, which: string): PauseCell | undefined {
  return r.data.cells.find((c) => c.method === "snapfleet-live" && c.load === load && c.which === which);
}

export function renderBeforeAfter(before: ResultFile<PauseResult>, after: ResultFile<PauseResult>): string {
  const rows = (["idle", "busy"] as const).flatMap((load) =>
    (["first", "tenth"] as const).map((which) => {
      const b = liveCell(before, load, which);
      const a = liveCell(after, load, which);
      const cell = (c?: PauseCell) => (c ? `${fmt(c.pause.median, 1)} / ${fmt(c.pause.max, 1)}` : "—");
      const x = b?.pause.median && a?.pause.median ? `${fmt(b.pause.median / a.pause.median, 1)}×` : "—";
      return [`${load}, ${which === "first" ? "1st" : "10th"} snapshot`, cell(b), cell(a), x];
    }),
  );
  return [
    "Snapfleet `live` through the API, guest pause in ms (median / max of ≥ 3 runs):",
    "",
    table(["case", "before (naive sequence)", "after (pause strategy)", "median before / after"], rows),
    "",
    `Before: ${provenance(before)}`,
    "",
    `After: ${provenance(after)}`,
  ].join("\n");
}

/** Same run, same load: the naive sequence vs the pause strategy, both over bare QMP (pause-ab). */
export function renderAb(r: ResultFile<PauseResult>): string {
  const cell = (method: string, load: string, which: string) => r.data.cells.find((c) => c.method === method && c.load === load && c.which === which);
  const rows = (["idle", "busy"] as const).flatMap((load) =>
    (["first", "tenth"] as const).map((which) => {
      const b = cell("classic", load, which);
      const a = cell("strategy", load, which);
      const f = (c?: PauseCell) => (c ? `${fmt(c.pause.median, 1)} / ${fmt(c.pause.max, 1)}` : "—");
      return [`${load}, ${which === "first" ? "1st" : "10th"} snapshot`, f(b), f(a), b?.pause.median && a?.pause.median ? `${fmt(b.pause.median / a.pause.median, 1)}×` : "—"];
    }),
  );
  return [
    "The same comparison in one run (naive first, then the strategy, on fresh guest-kit VMs of the same machine), over bare QMP — no product around it; guest pause in ms (median / max):",
    "",
    table(["case", "naive: stop → transaction → migrate", "pause strategy", "median naive / strategy"], rows),
    "",
    `Produced by ${provenance(r)}`,
  ].join("\n");
}

export function renderDocs(): void {
  const ab = readLatest<PauseResult>("pause-ab");
  if (ab) updateDocsSection("ab", renderAb(ab));
  const pause = readLatest<PauseResult>("pause");
  if (pause) {
    updateDocsSection("pause", `${renderPauseTables(pause.data)}\n\nProduced by ${provenance(pause)}`);
    if (pause.data.headline) updateDocsSection("headline", `consistent 1 GiB pause: ${Math.round(pause.data.headline.ms ?? 0)} ms`);
    const before = readLatest<PauseResult>("pause-before");
    if (before && before.startedAt !== pause.startedAt) updateDocsSection("before-after", renderBeforeAfter(before, pause));
  }
  const overhead = readLatest<OverheadData>("overhead");
  if (overhead) updateDocsSection("overhead", renderOverhead(overhead));
  const latency = readLatest<LatencyData>("latency");
  if (latency) updateDocsSection("latency", renderLatency(latency));
}
