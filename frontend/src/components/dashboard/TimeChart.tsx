// A uPlot time chart (only the dashboard chunk loads uPlot). The chart is made once per set of lines and then only
// fed new data, as uPlot intends; its width follows the container.
import { useEffect, useRef } from "react";
import { axisLabels } from "../../metrics/format";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

export const COLORS = ["#2563eb", "#16a34a", "#dc2626", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#db2777"];

export interface Line {
  label: string;
  color: string;
  dashed?: boolean;
  values: (number | null)[];
}

export function TimeChart({ testId, xs, lines, format, height = 220, empty }: {
  testId: string;
  xs: number[];
  lines: Line[];
  format: (value: number) => string;
  height?: number;
  /** Shown over the (empty) chart when there is nothing to draw: what to do to see something. */
  empty?: string;
}) {
  const box = useRef<HTMLDivElement>(null);
  const chart = useRef<uPlot | null>(null);
  const formatRef = useRef(format);
  formatRef.current = format;
  const shape = lines.map((l) => `${l.label}|${l.color}|${l.dashed ? 1 : 0}`).join("\n");
  const data: uPlot.AlignedData = [xs, ...lines.map((l) => l.values)];
  const dataRef = useRef(data);
  dataRef.current = data;

  // A new set of lines: a new chart (uPlot's series are fixed at creation).
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const fmt = (v: number | null) => (v === null || v === undefined ? "–" : formatRef.current(v));
    const opts: uPlot.Options = {
      width: Math.max(200, el.clientWidth),
      height,
      series: [
        {},
        ...lines.map((l) => ({
          label: l.label,
          stroke: l.color,
          width: 1.5,
          dash: l.dashed ? [4, 3] : undefined,
          value: (_u: uPlot, v: number | null) => fmt(v),
          spanGaps: false,
          points: { show: false },
        })),
      ],
      scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] } },
      axes: [{}, { size: 64, values: (_u, splits) => axisLabels(splits, fmt) }],
      legend: { show: lines.length > 0 },
      cursor: { drag: { x: false, y: false } },
    };
    const u = new uPlot(opts, dataRef.current, el);
    chart.current = u;
    const resize = new ResizeObserver(() => u.setSize({ width: Math.max(200, el.clientWidth), height }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      u.destroy();
      chart.current = null;
    };
    // `shape` stands for `lines` here: only their labels and looks make a new chart, not their values.
  }, [shape, height]);

  useEffect(() => {
    chart.current?.setData(data);
  });

  return (
    <div className="chart" data-testid={testId}>
      <div ref={box} />
      {empty && <div className="chart-empty">{empty}</div>}
    </div>
  );
}
