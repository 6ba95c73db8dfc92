// Execution-time histograms: the TypeScript twin of backend/metrics/histogram.py. The bounds are fixed so that the
// histograms of several workers and seconds simply add up; the browser merges ticks itself and reads p50/p95 from
// the sum. Same bounds and same percentile rule as the Python module, checked with the same vectors
// (histogram.test.ts and tests/metrics/test_histogram.py).

/** Upper bounds in ms; bucket i holds durations in (BOUNDS_MS[i-1], BOUNDS_MS[i]], the last bucket everything above. */
export const BOUNDS_MS: readonly number[] = [
  0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000,
];
export const BUCKETS = BOUNDS_MS.length + 1;

/** The bucket a duration falls in (Python's bisect_left: a duration equal to a bound belongs to that bound's bucket). */
export function bucketOf(ms: number): number {
  let lo = 0;
  let hi = BOUNDS_MS.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (BOUNDS_MS[mid] < ms) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export function emptyHist(): number[] {
  return new Array<number>(BUCKETS).fill(0);
}

/** Adds `hist` into `into` (in place; extra buckets from a longer histogram are ignored, as in Python). */
export function addInto(into: number[], hist: readonly number[] | undefined): number[] {
  if (!hist) return into;
  const n = Math.min(BUCKETS, hist.length);
  for (let i = 0; i < n; i++) into[i] += hist[i] || 0;
  return into;
}

export function merge(histograms: Iterable<readonly number[]>): number[] {
  const out = emptyHist();
  for (const hist of histograms) addInto(out, hist);
  return out;
}

/**
 * The q-quantile (0 < q ≤ 1) in ms, interpolated linearly inside its bucket; null when there is no sample.
 * The bucket's upper edge is capped by the observed maximum (and the open last bucket ends there), so a percentile
 * never exceeds the slowest call actually seen.
 */
export function percentile(hist: readonly number[], q: number, maxMs: number | null = null): number | null {
  let total = 0;
  for (const count of hist) total += count;
  if (total <= 0) return null;
  const rank = q * total;
  let seen = 0;
  for (let i = 0; i < hist.length; i++) {
    const count = hist[i];
    if (count <= 0) continue;
    if (seen + count >= rank) {
      let lower = i > 0 ? BOUNDS_MS[i - 1] : 0;
      let upper = i < BOUNDS_MS.length ? BOUNDS_MS[i] : maxMs !== null ? maxMs : lower;
      if (maxMs !== null) {
        upper = Math.min(upper, maxMs);
        lower = Math.min(lower, upper);
      }
      return lower + ((upper - lower) * (rank - seen)) / count;
    }
    seen += count;
  }
  return maxMs;
}
