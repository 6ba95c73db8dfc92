// The same vectors as tests/metrics/test_histogram.py: the browser and the server must read the same percentile
// from the same histogram.
import { describe, expect, it } from "vitest";
import { BOUNDS_MS, BUCKETS, bucketOf, emptyHist, merge, percentile } from "./histogram";

function hist(counts: Record<number, number>): number[] {
  const h = emptyHist();
  for (const [i, n] of Object.entries(counts)) h[Number(i)] = n;
  return h;
}

describe("histogram", () => {
  it("has the server's bounds", () => {
    expect(BOUNDS_MS).toEqual([0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000]);
    expect(BUCKETS).toBe(19);
  });

  it("puts a duration on a bound into that bound's bucket", () => {
    expect(bucketOf(0)).toBe(0);
    expect(bucketOf(0.1)).toBe(0);
    expect(bucketOf(0.11)).toBe(1);
    expect(bucketOf(1)).toBe(3);
    expect(bucketOf(60000)).toBe(17);
    expect(bucketOf(60001)).toBe(18);
  });

  it("interpolates inside the bucket", () => {
    expect(percentile(hist({ 3: 10 }), 0.5)).toBeCloseTo(0.75, 10);
  });

  it("caps the bucket by the observed maximum", () => {
    expect(percentile(hist({ 3: 10 }), 0.5, 0.9)).toBeCloseTo(0.7, 10);
  });

  it("has no percentile without samples", () => {
    expect(percentile(emptyHist(), 0.95)).toBeNull();
    expect(percentile(emptyHist(), 0.5, 12)).toBeNull();
  });

  it("ends the open last bucket at the maximum", () => {
    const h = hist({ 0: 1, 18: 1 });
    expect(percentile(h, 0.95, 90000)).toBeCloseTo(87000, 6);
    expect(percentile(h, 0.5, 90000)).toBeCloseTo(0.1, 10);
  });

  it("adds histograms bucket by bucket", () => {
    expect(merge([hist({ 1: 2, 5: 1 }), hist({ 1: 3 }), [1]])).toEqual(hist({ 0: 1, 1: 5, 5: 1 }));
  });
});
