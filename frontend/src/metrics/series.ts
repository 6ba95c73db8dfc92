// Chart data for the dashboard, shaped for uPlot (one x array of epoch seconds, one y array per series): the live
// last minute from /ws/metrics/ and the history from /api/metrics/flows. Pure, so Vitest checks the maths.
import type { FlowsMetrics, MetricsRange } from "../api/types";
import type { FlowCounts } from "../live/frames";
import { percentile } from "./histogram";
import { WINDOW } from "./window";

/** The busiest flows get a line each; more would be unreadable. */
export const MAX_FLOWS = 8;

export interface FlowLine {
  id: string;
  name: string;
  in: (number | null)[];
  out: (number | null)[];
  p95: (number | null)[];
}

export interface ChartData {
  xs: number[];
  flows: FlowLine[];
  /** Flows that moved but did not get a line (beyond MAX_FLOWS). */
  hidden: number;
}

export interface ClusterSecond {
  t: number;
  flows: Record<string, FlowCounts>;
}

function busiest<T extends { total: number }>(all: T[]): { shown: T[]; hidden: number } {
  const sorted = [...all].sort((a, b) => b.total - a.total);
  return { shown: sorted.slice(0, MAX_FLOWS), hidden: Math.max(0, sorted.length - MAX_FLOWS) };
}

/** The last minute ending at second `last`, one point a second; a flow absent from a second moved nothing in it. */
export function liveChart(seconds: readonly ClusterSecond[], last: number): ChartData {
  const first = last - WINDOW + 1;
  const xs = Array.from({ length: WINDOW }, (_, i) => first + i);
  const lines = new Map<string, FlowLine & { total: number }>();
  for (const second of seconds) {
    if (second.t < first || second.t > last) continue;
    const i = second.t - first;
    for (const [id, c] of Object.entries(second.flows)) {
      let line = lines.get(id);
      if (!line) {
        line = {
          id,
          name: c.name || id.slice(0, 8),
          in: new Array<number | null>(WINDOW).fill(0),
          out: new Array<number | null>(WINDOW).fill(0),
          p95: new Array<number | null>(WINDOW).fill(null),
          total: 0,
        };
        lines.set(id, line);
      }
      line.name = c.name || line.name;
      line.in[i] = c.in;
      line.out[i] = c.out;
      line.p95[i] = percentile(c.hist ?? [], 0.95, c.time_max > 0 ? c.time_max : null);
      line.total += c.in + c.out;
    }
  }
  const { shown, hidden } = busiest([...lines.values()].filter((l) => l.total > 0));
  return { xs, flows: shown.map(({ total: _total, ...line }) => line), hidden };
}

/** History points are sums over each step: rates become msgs/s averaged over the step. A missing point is a step
 * without traffic (0 msgs/s, no p95). */
export function historyChart(data: FlowsMetrics): ChartData {
  const step = data.step || 60;
  const xs: number[] = [];
  for (let t = data.start - (data.start % step); t < data.end; t += step) xs.push(t);
  const index = new Map(xs.map((t, i) => [t, i]));
  const lines = data.flows.map((flow) => {
    const line = {
      id: flow.id,
      name: flow.name,
      in: new Array<number | null>(xs.length).fill(0),
      out: new Array<number | null>(xs.length).fill(0),
      p95: new Array<number | null>(xs.length).fill(null),
      total: 0,
    };
    for (const p of flow.points) {
      const i = index.get(p.t - (p.t % step));
      if (i === undefined) continue;
      line.in[i] = round(p.in / step);
      line.out[i] = round(p.out / step);
      line.p95[i] = p.p95_ms;
      line.total += p.in + p.out;
    }
    return line;
  });
  const { shown, hidden } = busiest(lines.filter((l) => l.total > 0));
  return { xs, flows: shown.map(({ total: _total, ...line }) => line), hidden };
}

const round = (n: number) => Math.round(n * 1000) / 1000;

export interface RangeChoice {
  key: string;
  label: string;
  seconds: number;
  step: number;
}

/** The history ranges; steps keep each chart at a few hundred points (the API allows 2,000). */
export const RANGES: readonly RangeChoice[] = [
  { key: "15m", label: "15 min", seconds: 15 * 60, step: 60 },
  { key: "1h", label: "1 h", seconds: 3600, step: 60 },
  { key: "6h", label: "6 h", seconds: 6 * 3600, step: 120 },
  { key: "24h", label: "24 h", seconds: 24 * 3600, step: 300 },
  { key: "7d", label: "7 d", seconds: 7 * 24 * 3600, step: 1800 },
];

/** The query of a range ending now, aligned to its step (the last, unfinished step included). */
export function rangeQuery(choice: RangeChoice, nowMs = Date.now()): MetricsRange {
  const now = Math.floor(nowMs / 1000);
  const end = now - (now % choice.step) + choice.step;
  return { start: end - choice.seconds, end, step: choice.step };
}
