// How live numbers read on the canvas and the dashboard, and the back-pressure colour of a queue.
import type { Depth } from "../live/frames";

/** Milliseconds with two significant-ish digits: 0.42 ms, 4.2 ms, 42 ms, 1.2 s. */
export function formatMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return "–";
  if (ms === 0) return "0 ms";
  if (ms >= 1000) return `${(ms / 1000).toFixed(ms >= 10_000 ? 0 : 1)} s`;
  if (ms >= 10) return `${Math.round(ms)} ms`;
  if (ms >= 1) return `${ms.toFixed(1)} ms`;
  return `${ms.toFixed(2)} ms`;
}

/** A rate or count, shortened past ten thousand (12k) where space is tight. */
export function formatCount(n: number): string {
  if (n >= 10_000_000) return `${Math.round(n / 1_000_000)}M`;
  if (n >= 10_000) return `${Math.round(n / 1000)}k`;
  return Number.isInteger(n) ? String(n) : n.toFixed(1);
}

export function formatMb(mb: number | null | undefined): string {
  if (mb === null || mb === undefined) return "–";
  return mb >= 1024 ? `${(mb / 1024).toFixed(1)} GB` : `${Math.round(mb)} MB`;
}

/** Back pressure of a queue: none (empty), ok (< 50 % of its max), warn (50–90 %), full (≥ 90 %, or the plug's
 * sender is holding its output: a bounded target is the reason a sender waits). An unbounded queue is coloured by
 * absolute depth instead (found by a designer: 4,659 waiting stayed grey): ok below UNBOUNDED_WARN, warn below
 * UNBOUNDED_FULL, full above. */
export type Pressure = "none" | "ok" | "warn" | "full";
export const UNBOUNDED_WARN = 100;
export const UNBOUNDED_FULL = 1000;

export function pressure(depth: Pick<Depth, "depth" | "max"> | undefined, senderHeld = false): Pressure {
  if (!depth) return "none";
  if (depth.max === null || depth.max === undefined || depth.max <= 0) {
    if (depth.depth <= 0) return "none";
    return depth.depth >= UNBOUNDED_FULL ? "full" : depth.depth >= UNBOUNDED_WARN ? "warn" : "ok";
  }
  const ratio = depth.depth / depth.max;
  if (ratio >= 0.9 || senderHeld) return "full";
  if (ratio >= 0.5) return "warn";
  return "ok";
}

export function depthTitle(depth: Pick<Depth, "depth" | "max">, senderHeld = false): string {
  const base =
    depth.max === null || depth.max <= 0
      ? `${depth.depth} message${depth.depth === 1 ? "" : "s"} waiting (unbounded queue)`
      : `${depth.depth} of at most ${depth.max} messages waiting (${Math.round((100 * depth.depth) / depth.max)} %)`;
  return senderHeld ? `${base}; the sender holds its output: back pressure` : base;
}

/** The value axis's labels: a tick whose label reads like the one below it is left blank (found by a designer:
 * "0.01 ms" twice on the latency axis, ticks closer than the format's precision). */
export function axisLabels(splits: number[], fmt: (v: number) => string): string[] {
  return splits.map((v, i) => {
    const label = fmt(v);
    return i > 0 && fmt(splits[i - 1]) === label ? "" : label;
  });
}
