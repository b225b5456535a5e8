// bench/lib/stats.ts: nearest-rank percentiles, medians, missing samples.
import { describe, expect, it } from "vitest";
import { median, percentile, ratio, summarize } from "../../bench/lib/stats";

describe("bench stats", () => {
  it("takes nearest-rank percentiles from actual samples", () => {
    const s = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(s, 50)).toBe(50);
    expect(percentile(s, 95)).toBe(95);
    expect(percentile(s, 99)).toBe(99);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 50)).toBeNull();
  });

  it("medians odd and even counts", () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNull();
  });

  it("drops and counts missing samples", () => {
    const s = summarize([10, null, 30, undefined, 20, Number.NaN]);
    expect(s).toMatchObject({ n: 3, missing: 3, median: 20, max: 30, min: 10, p99: 30 });
  });

  it("ratio is null when a side is missing or zero", () => {
    expect(ratio(10, 4)).toBe(2.5);
    expect(ratio(null, 4)).toBeNull();
    expect(ratio(1, 0)).toBeNull();
  });
});
