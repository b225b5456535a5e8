// The VM page's expected pause (PAUSE_MODEL in lib/snapshots/pause-plan.ts) against the latest measured size
// runs (bench/results/pause-size-latest.json for the system QEMU, pause-size-qemu10-latest.json for QEMU 10):
// for each guest size, the plan for such a VM — a local host, anonymous RAM with 85 % of it written, THP
// madvise — is within 30 % of the median over that size's cells (idle/busy × 1st/later snapshot, each
// cell's own median; later = the 2nd to the last snapshot of each QEMU process) of Snapfleet `live`
// through the API. A model changed without measuring, or a measurement that moved away from the model,
// fails here.
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import type { SizeRun } from "../../bench/parts/pause-size";
import type { ResultFile } from "../../bench/lib/report";
import { planConsistentPause } from "../../lib/snapshots/pause-plan";

const GIB = 1024 ** 3;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function load(file: string): ResultFile<SizeRun[]> {
  return JSON.parse(readFileSync(path.join(import.meta.dirname, "../../bench/results", file), "utf8")) as ResultFile<
    SizeRun[]
  >;
}

describe.each(["pause-size-latest.json", "pause-size-qemu10-latest.json"])("%s", (file) => {
  const result = load(file);
  const [, major, minor, micro] = /(\d+)\.(\d+)\.(\d+)/.exec(result.machine.qemu)!.map(Number);
  it.each(result.data.map((r) => [r.sizeGiB, r] as const))("%i GiB: expected within 30 %% of measured", (size, run) => {
    const cells = run.result.options.loads.flatMap((load) =>
      [(o: number) => o === 1, (o: number) => o >= 2].map((isCell) =>
        median(
          run.result.samples
            .filter((s) => s.method === "snapfleet-live" && s.load === load && s.ok && isCell(s.ordinal))
            .map((s) => s.pauseMs!),
        ),
      ),
    );
    const measured = median(cells.filter((c) => Number.isFinite(c)));
    const plan = planConsistentPause({
      qemuVersion: { major: major!, minor: minor!, micro: micro! },
      memoryBytes: size * GIB,
      residentBytes: 0.85 * size * GIB,
      memoryKind: "anonymous",
      hostThp: "madvise",
      canCollapse: true,
      canGate: true,
    });
    const expected = plan.expectedPauseMs.later;
    expect(
      Math.abs(expected - measured) / measured,
      `expected ${expected} ms, measured ${measured} ms`,
    ).toBeLessThanOrEqual(0.3);
  });
});
