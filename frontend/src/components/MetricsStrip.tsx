// Live numbers on a processor node. Each piece subscribes to the metrics store for its own processor only, so the
// once-a-second update renders these strips and nothing else: the node, the graph and its edges stay as they are.
import { memo } from "react";
import { formatMs } from "../metrics/format";
import { WINDOW } from "../metrics/window";
import { selectProcessor, useMetrics } from "../stores/metrics";

const NO_SPARK: number[] = new Array<number>(WINDOW).fill(0);

/** A 60-point line of messages in per second; scaled to its own maximum (the number next to it gives the size). */
export const Sparkline = memo(function Sparkline({ values, height = 16, title }: {
  values: readonly number[];
  height?: number;
  title?: string;
}) {
  const max = Math.max(1, ...values);
  const last = values.length - 1;
  const points = values.map((v, i) => `${i},${(height - 1 - ((height - 2) * v) / max).toFixed(1)}`).join(" ");
  return (
    <svg className="sparkline" viewBox={`0 0 ${Math.max(1, last)} ${height}`} preserveAspectRatio="none" height={height}
      role="img" aria-label={title}>
      {title && <title>{title}</title>}
      <polyline points={points} fill="none" vectorEffect="non-scaling-stroke" />
    </svg>
  );
});

function MetricsStripView({ id }: { id: string }) {
  const view = useMetrics(selectProcessor(id));
  const rateIn = view?.in ?? 0;
  const rateOut = view?.out ?? 0;
  const errors = view?.errors ?? 0;
  const peak = view ? Math.max(...view.spark) : 0;
  return (
    <div className="metrics-strip" data-testid={`metrics-${id}`}>
      <div className="metrics-numbers">
        <span title="Messages taken in the last second (all sockets, all workers)">
          in <b data-testid={`rate-in-${id}`}>{rateIn}</b>/s
        </span>
        <span title="Messages published downstream in the last second">
          out <b data-testid={`rate-out-${id}`}>{rateOut}</b>/s
        </span>
        <span className={errors > 0 ? "metric-bad" : undefined} title="Messages that failed for good in the last minute (a retried attempt is not counted)">
          err <b data-testid={`errors-${id}`}>{errors}</b>
        </span>
        <span title="95th percentile of execution time over the last minute">
          p95 <b data-testid={`p95-${id}`}>{formatMs(view?.p95)}</b>
        </span>
      </div>
      <Sparkline values={view?.spark ?? NO_SPARK} title={`Messages in per second, last minute (peak ${peak}/s)`} />
    </div>
  );
}

export const MetricsStrip = memo(MetricsStripView);

/** "held" while a socket of the processor holds its output because a target queue is full. */
export const HeldBadge = memo(function HeldBadge({ id }: { id: string }) {
  const held = useMetrics((s) => s.processors[id]?.held ?? false);
  if (!held) return null;
  return (
    <span className="badge badge-held" data-testid={`held-${id}`}
      title="Output held by back pressure: a queue this processor sends to is full, so it waits before sending more.">
      held
    </span>
  );
});
