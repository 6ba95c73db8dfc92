// Frames for the tests of the live metrics (imported by *.test.ts only, so never bundled).
import type { SocketCounts, TickFrame } from "../live/frames";
import { emptyHist } from "./histogram";

/** One socket's counts; `bucket` puts all `in` calls (or one) into that histogram bucket. */
export function counts(patch: Partial<SocketCounts> & { bucket?: number } = {}): SocketCounts {
  const { bucket, ...rest } = patch;
  const hist = emptyHist();
  if (bucket !== undefined) hist[bucket] = rest.in ?? 1;
  return { in: 0, out: 0, errors: 0, bytes_in: 0, bytes_out: 0, time_ms: 0, time_max: 0, held_ms: 0, hist, ...rest };
}

export function tick(t: number, sockets: Record<string, SocketCounts>, extra: Partial<TickFrame> = {}): TickFrame {
  return {
    type: "tick",
    flow_id: "f1",
    t,
    worker: "w1",
    processor_id: "p1",
    sockets,
    errors: [],
    busy: 0,
    concurrency: 1,
    ...extra,
  };
}
