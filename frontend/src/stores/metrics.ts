// Live metrics of the flow on the canvas: its own store, apart from the designer graph (STYLE.md: a tick never
// rewrites the graph state). Frames go into a mutable FlowWindow as they come; React sees a derived, immutable
// view published at most once a second (and at once after a snapshot), and a view that did not change keeps its
// object, so a strip or an edge label whose numbers are the same does not render again.
import { create } from "zustand";
import type { Depth, FlowFrame } from "../live/frames";
import { FlowWindow, type ProcessorView, type RecentError } from "../metrics/window";

export const PUBLISH_MS = 1000;
// Workers flush a second each on their own (a few ms to a few hundred apart): for this long after the first tick of
// a new second, the strips keep showing the second before, so that they never show half a second's sum.
export const SETTLE_MS = 400;

export interface MetricsState {
  flowId: string | null;
  /** The second rates are for (the last complete one); 0 before the first frame. */
  t: number;
  processors: Record<string, ProcessorView>;
  depths: Record<string, Depth>;
  errors: RecentError[];
}

const EMPTY: MetricsState = { flowId: null, t: 0, processors: {}, depths: {}, errors: [] };

export const useMetrics = create<MetricsState>(() => EMPTY);

let buffer = new FlowWindow();
let owners: ReadonlyMap<string, string> | undefined;
let dirty = false;
// The server's clock minus ours (s), from the newest frame: lets seconds pass while no frame comes.
let skew: number | null = null;
// When a frame last moved the clock (Date.now()); 0: settled.
let advancedAt = 0;
let timer: ReturnType<typeof setInterval> | undefined;

const sameNumbers = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((v, i) => v === b[i]);

function sameView(a: ProcessorView, b: ProcessorView): boolean {
  return (
    a.in === b.in && a.out === b.out && a.errors === b.errors && a.p95 === b.p95 && a.held === b.held &&
    sameNumbers(a.spark, b.spark)
  );
}

const sameDepth = (a: Depth, b: Depth) => a.depth === b.depth && a.max === b.max && a.held === b.held;

/** `next`, but with the previous object wherever the value is the same (and `prev` itself when nothing changed). */
function keep<T>(prev: Record<string, T>, next: Map<string, T> | Record<string, T>, same: (a: T, b: T) => boolean) {
  const out: Record<string, T> = {};
  let changed = false;
  const entries = next instanceof Map ? next.entries() : Object.entries(next);
  let count = 0;
  for (const [key, value] of entries) {
    count++;
    const old = prev[key];
    if (old !== undefined && same(old, value)) out[key] = old;
    else {
      out[key] = value;
      changed = true;
    }
  }
  return changed || count !== Object.keys(prev).length ? out : prev;
}

/** Hand the derived view to React now. */
export function publish(now = Date.now()): void {
  dirty = false;
  const prev = useMetrics.getState();
  const settling = now - advancedAt < SETTLE_MS;
  // Still settling: show the second before, and publish again once the new one has settled.
  if (settling) dirty = true;
  const t = settling ? buffer.last - 1 : buffer.last;
  const processors = keep(prev.processors, buffer.processorViews(owners, t), sameView);
  const depths = keep(prev.depths, buffer.depths, sameDepth);
  const sameErrors = buffer.errors.length === prev.errors.length && buffer.errors[0] === prev.errors[0];
  const errors = sameErrors ? prev.errors : buffer.errors;
  if (processors !== prev.processors || depths !== prev.depths || errors !== prev.errors || t !== prev.t) {
    useMetrics.setState({ processors, depths, errors, t });
  }
}

/** A frame moved the clock: our estimate of the server's clock follows, and the new second starts settling. */
function noteClock(settle = true): void {
  const now = Date.now();
  skew = buffer.clock - now / 1000;
  advancedAt = settle ? now : 0;
}

/** Apply one frame of /ws/flows/<id>/; the view follows within a second. */
export function applyFrame(frame: FlowFrame): void {
  const clock = buffer.clock;
  switch (frame.type) {
    case "snapshot":
      buffer.applySnapshot(frame);
      noteClock(false); // the server merged the snapshot's seconds over every worker already
      publish(); // a (re)connect should show its numbers at once, not a second later
      return;
    case "tick":
      buffer.applyTick(frame);
      break;
    case "depths":
      buffer.applyDepths(frame);
      break;
    default:
      return;
  }
  if (buffer.clock !== clock) noteClock();
  dirty = true;
}

/** The once-a-second beat: move the clock on by our own clock too (an idle flow sends no ticks, and its rates
 * must fall to zero), then publish what changed. A hidden tab keeps counting but does not render. */
export function beat(now = Date.now()): void {
  if (skew !== null && buffer.clock > 0) {
    // One second behind the estimate: workers flush a second just after it ends, and their tick should be the
    // one that moves the clock in the normal case.
    if (buffer.advanceTo(Math.floor(now / 1000 + skew) - 1)) dirty = true;
  }
  if (dirty && !(typeof document !== "undefined" && document.hidden)) publish(now);
}

/** Socket id -> processor id from the graph on the canvas (ticks say it too, but snapshots do not). */
export function setOwners(map: ReadonlyMap<string, string>): void {
  owners = map;
  dirty = true;
}

/** Start counting for `flowId` from nothing; returns the stop function. */
export function startMetrics(flowId: string): () => void {
  resetMetrics(flowId);
  timer = setInterval(() => beat(), PUBLISH_MS);
  const onVisible = () => {
    if (!document.hidden && dirty) publish();
  };
  document.addEventListener("visibilitychange", onVisible);
  return () => {
    clearInterval(timer);
    timer = undefined;
    document.removeEventListener("visibilitychange", onVisible);
    resetMetrics(null);
  };
}

export function resetMetrics(flowId: string | null): void {
  clearInterval(timer);
  buffer = new FlowWindow();
  owners = undefined;
  dirty = false;
  skew = null;
  advancedAt = 0;
  useMetrics.setState({ ...EMPTY, flowId });
}

/** The numbers of one processor (undefined: nothing counted in the last minute). */
export const selectProcessor = (id: string) => (s: MetricsState) => s.processors[id];
export const selectDepth = (socketId: string) => (s: MetricsState) => s.depths[socketId];

/** One socket's numbers for the second the strips show (read on hover, not rendered every second): messages in
 * and out, errors, and the mean call time in ms; null before its first call in the window. */
export function socketSecond(socketId: string): { in: number; out: number; errors: number; meanMs: number } | null {
  const t = useMetrics.getState().t;
  const counts = t ? buffer.counts(t, socketId) : undefined;
  if (!counts) return null;
  return { in: counts.in, out: counts.out, errors: counts.errors, meanMs: counts.in ? counts.time_ms / counts.in : 0 };
}
