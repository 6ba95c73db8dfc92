import { describe, expect, it } from "vitest";
import type { FlowCounts } from "../live/frames";
import { emptyHist } from "./histogram";
import { historyChart, liveChart, MAX_FLOWS, RANGES, rangeQuery } from "./series";

function flow(id: string, n: number, extra: Partial<FlowCounts> = {}): FlowCounts {
  const hist = emptyHist();
  hist[3] = n;
  return { id, name: `flow-${id}`, in: n, out: n * 2, errors: 0, time_ms: n, time_max: 0.9, hist, ...extra };
}

describe("dashboard series", () => {
  it("lays the live minute out one point a second, zero where a flow did not move", () => {
    const chart = liveChart(
      [
        { t: 40, flows: { a: flow("a", 5) } }, // before the window
        { t: 98, flows: { a: flow("a", 10) } },
        { t: 100, flows: { a: flow("a", 4), b: flow("b", 1) } },
      ],
      100,
    );
    expect(chart.xs).toHaveLength(60);
    expect(chart.xs[59]).toBe(100);
    const a = chart.flows.find((f) => f.id === "a")!;
    expect(a.in.slice(-3)).toEqual([10, 0, 4]);
    expect(a.out.slice(-1)).toEqual([8]);
    expect(a.p95[57]).toBeCloseTo(0.5 + 0.4 * 0.95, 10);
    expect(a.p95[58]).toBeNull();
    expect(chart.flows.map((f) => f.id)).toEqual(["a", "b"]); // busiest first
  });

  it("draws the busiest flows only", () => {
    const flows = Object.fromEntries(Array.from({ length: MAX_FLOWS + 3 }, (_, i) => [`f${i}`, flow(`f${i}`, i + 1)]));
    const chart = liveChart([{ t: 10, flows }], 10);
    expect(chart.flows).toHaveLength(MAX_FLOWS);
    expect(chart.hidden).toBe(3);
    expect(chart.flows[0].id).toBe(`f${MAX_FLOWS + 2}`);
  });

  it("turns history sums into rates per second over each step", () => {
    const point = (t: number, n: number) => ({
      t, in: n, out: 2 * n, errors: 0, bytes_in: 0, bytes_out: 0, time_ms: 0, time_avg_ms: null, time_max_ms: null,
      p50_ms: null, p95_ms: 12.5, held_ms: 0, depth_max: null,
    });
    const chart = historyChart({
      start: 600, end: 900, step: 60,
      flows: [
        { id: "a", name: "A", points: [point(600, 120), point(780, 6)] },
        { id: "idle", name: "I", points: [] },
      ],
    });
    expect(chart.xs).toEqual([600, 660, 720, 780, 840]);
    expect(chart.flows).toHaveLength(1);
    expect(chart.flows[0].in).toEqual([2, 0, 0, 0.1, 0]);
    expect(chart.flows[0].out[0]).toBe(4);
    expect(chart.flows[0].p95).toEqual([12.5, null, null, 12.5, null]);
  });

  it("asks for whole steps and never more than the API allows", () => {
    for (const choice of RANGES) {
      const q = rangeQuery(choice, 1_700_000_123_456);
      expect(q.step % 60).toBe(0);
      expect(q.end % q.step).toBe(0);
      expect(q.end).toBeGreaterThan(1_700_000_123);
      expect((q.end - q.start) / q.step).toBeLessThanOrEqual(2000);
    }
  });
});
