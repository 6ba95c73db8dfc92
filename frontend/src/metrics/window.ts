// The live counts of one flow as the browser holds them: per socket, the last minute of seconds merged over every
// worker, plus the latest queue depths and a few recent call errors. A plain mutable object, fed frame by frame
// (stores/metrics.ts publishes a derived, immutable view of it at most once a second) and tested on its own.
import type { CallError, Depth, DepthsFrame, FlowSnapshotFrame, SocketCounts, TickFrame } from "../live/frames";
import { addInto, emptyHist, percentile } from "./histogram";

/** Seconds kept and drawn: the sparkline has one point per second of the last minute. */
export const WINDOW = 60;
export const RECENT_ERRORS = 20;

export interface RecentError extends CallError {
  processor_id: string;
  worker: string;
}

/** What a processor's strip shows. Rates are of the last complete second; errors and p95 of the last minute,
 * which a single quiet second would otherwise blank out. */
export interface ProcessorView {
  /** The second `in`/`out` are for. */
  t: number;
  in: number;
  out: number;
  /** Failed calls in the last minute. */
  errors: number;
  /** 95th percentile of execution time over the last minute (ms), null without calls. */
  p95: number | null;
  /** Messages in per second, oldest first, WINDOW values ending at `t`. */
  spark: number[];
  /** Output held by back pressure now (a socket's `held` depth flag) or during the last second. */
  held: boolean;
}

function blankCounts(): SocketCounts {
  return { in: 0, out: 0, errors: 0, bytes_in: 0, bytes_out: 0, time_ms: 0, time_max: 0, held_ms: 0, hist: emptyHist() };
}

/** Adds one worker's counts into the merged counts of a second: sums, except the maximum. */
export function addCounts(into: SocketCounts, more: SocketCounts): SocketCounts {
  into.in += more.in || 0;
  into.out += more.out || 0;
  into.errors += more.errors || 0;
  into.bytes_in += more.bytes_in || 0;
  into.bytes_out += more.bytes_out || 0;
  into.time_ms += more.time_ms || 0;
  into.held_ms += more.held_ms || 0;
  into.time_max = Math.max(into.time_max, more.time_max || 0);
  addInto(into.hist, more.hist);
  return into;
}

// Every `t` the server sends names a finished second: a tick's own second, and in a snapshot or a depths sample
// the last second finished when it was taken. The clock here is the second after it (the one still running).
export class FlowWindow {
  /** The server's current second (still running); the last complete one is clock - 1. 0: nothing heard yet. */
  clock = 0;
  /** second -> socket id -> counts merged over the workers that sent that second. */
  readonly seconds = new Map<number, Map<string, SocketCounts>>();
  depths: Record<string, Depth> = {};
  errors: RecentError[] = [];
  /** Socket -> processor, as ticks tell it (a fallback for sockets the graph does not know yet). */
  private readonly tickOwners = new Map<string, string>();
  /** "second|worker" pairs the last snapshot already counted (a worker writes Redis, then sends its tick). */
  private counted = new Set<string>();

  get last(): number {
    return this.clock - 1;
  }

  /** The whole state as the server has it now: replaces everything counted so far (first connect and resync). */
  applySnapshot(frame: Pick<FlowSnapshotFrame, "t" | "seconds" | "depths">): void {
    this.seconds.clear();
    this.counted = new Set();
    this.clock = frame.t + 1;
    for (const second of frame.seconds ?? []) {
      for (const [socket, counts] of Object.entries(second.sockets)) this.add(second.t, socket, counts);
      for (const worker of second.workers ?? []) this.counted.add(`${second.t}|${worker}`);
    }
    this.depths = { ...(frame.depths ?? {}) };
    this.prune();
  }

  /** One worker's counts for one finished second; another worker's counts for the same second add up. A tick for
   * an older second still inside the window adds into that second; one older than the window is dropped. */
  applyTick(frame: Pick<TickFrame, "t" | "sockets" | "processor_id" | "worker" | "errors">): boolean {
    this.advanceTo(frame.t + 1);
    if (frame.t < this.clock - WINDOW) return false;
    if (this.counted.delete(`${frame.t}|${frame.worker}`)) return false;
    for (const [socket, counts] of Object.entries(frame.sockets)) {
      this.tickOwners.set(socket, frame.processor_id);
      this.add(frame.t, socket, counts);
    }
    if (frame.errors?.length) {
      const recent = frame.errors.map((e) => ({ ...e, processor_id: frame.processor_id, worker: frame.worker }));
      this.errors = [...recent.reverse(), ...this.errors].slice(0, RECENT_ERRORS);
    }
    return true;
  }

  /** The sampled depth of every socket's queue: replaces the previous sample. */
  applyDepths(frame: Pick<DepthsFrame, "t" | "sockets">): void {
    this.advanceTo(frame.t + 1);
    this.depths = { ...frame.sockets };
  }

  /** Time passes on the server even when nothing moves (workers only send seconds that had calls). */
  advanceTo(clock: number): boolean {
    if (clock <= this.clock) return false;
    this.clock = clock;
    this.prune();
    return true;
  }

  owner(socket: string, owners?: ReadonlyMap<string, string>): string | undefined {
    return owners?.get(socket) ?? this.tickOwners.get(socket);
  }

  /** Merged counts of one socket for one second (undefined: no call). */
  counts(t: number, socket: string): SocketCounts | undefined {
    return this.seconds.get(t)?.get(socket);
  }

  /** Per processor: its sockets summed (graph owners first, then what ticks said), for the minute ending at `last`. */
  processorViews(owners?: ReadonlyMap<string, string>, last = this.last): Map<string, ProcessorView> {
    const first = last - WINDOW + 1;
    const acc = new Map<string, { view: ProcessorView; hist: number[]; max: number }>();
    const entry = (processor: string) => {
      let a = acc.get(processor);
      if (!a) {
        a = {
          view: { t: last, in: 0, out: 0, errors: 0, p95: null, spark: new Array<number>(WINDOW).fill(0), held: false },
          hist: emptyHist(),
          max: 0,
        };
        acc.set(processor, a);
      }
      return a;
    };
    for (const [t, sockets] of this.seconds) {
      if (t < first || t > last) continue;
      for (const [socket, c] of sockets) {
        const processor = this.owner(socket, owners);
        if (!processor) continue;
        const a = entry(processor);
        a.view.spark[t - first] += c.in;
        a.view.errors += c.errors;
        addInto(a.hist, c.hist);
        a.max = Math.max(a.max, c.time_max);
        if (t === last) {
          a.view.in += c.in;
          a.view.out += c.out;
          if (c.held_ms > 0) a.view.held = true;
        }
      }
    }
    for (const [socket, depth] of Object.entries(this.depths)) {
      if (!depth.held) continue;
      const processor = this.owner(socket, owners);
      if (processor) entry(processor).view.held = true;
    }
    const out = new Map<string, ProcessorView>();
    for (const [processor, a] of acc) {
      a.view.p95 = percentile(a.hist, 0.95, a.max > 0 ? a.max : null);
      out.set(processor, a.view);
    }
    return out;
  }

  private add(t: number, socket: string, counts: SocketCounts): void {
    let second = this.seconds.get(t);
    if (!second) this.seconds.set(t, (second = new Map()));
    let merged = second.get(socket);
    if (!merged) second.set(socket, (merged = blankCounts()));
    addCounts(merged, counts);
  }

  private prune(): void {
    const oldest = this.clock - WINDOW;
    for (const t of this.seconds.keys()) if (t < oldest) this.seconds.delete(t);
  }
}
