// Summary statistics for benchmark samples. Percentiles use the nearest-rank method (the value of an
// actual sample, never an interpolation), so "p99 = 41 ms" means one of the runs took 41 ms.
// Invariants: pure; NaN/undefined samples are dropped and counted, never averaged in.

export interface Summary {
  n: number;
  /** Samples dropped because they were missing (a failed run). */
  missing: number;
  median: number | null;
  max: number | null;
  min: number | null;
  p50: number | null;
  p95: number | null;
  p99: number | null;
}

/** Nearest-rank percentile of sorted values: the smallest value with at least p % of samples ≤ it. */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (!sorted.length) return null;
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(sorted.length, rank) - 1];
}

/** Median: the middle sample, or the mean of the two middle samples for an even count. */
export function median(values: readonly number[]): number | null {
  const s = [...values].sort((a, b) => a - b);
  if (!s.length) return null;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

export function summarize(samples: ReadonlyArray<number | null | undefined>): Summary {
  const values = samples.filter((v): v is number => typeof v === "number" && Number.isFinite(v));
  const sorted = [...values].sort((a, b) => a - b);
  return {
    n: values.length,
    missing: samples.length - values.length,
    median: median(sorted),
    max: sorted.at(-1) ?? null,
    min: sorted[0] ?? null,
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
  };
}

/** a / b, or null when either is missing or b is 0. */
export function ratio(a: number | null | undefined, b: number | null | undefined): number | null {
  return typeof a === "number" && typeof b === "number" && b !== 0 ? a / b : null;
}
