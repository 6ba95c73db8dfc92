import { beforeEach, describe, expect, it } from "vitest";
import type { ClusterFrame, FlowCounts } from "../live/frames";
import { applyClusterFrame, resetCluster, useCluster } from "./cluster";

const counts = (id: string, n: number): FlowCounts => ({ id, name: id, in: n, out: n, errors: 0, time_ms: 0, time_max: 0, hist: [] });

function frame(t: number, flows: FlowCounts[], extra: Partial<ClusterFrame> = {}): ClusterFrame {
  return { type: "cluster", t, nodes: [], workers: [], flows, top_errors: [], deepest: [], ...extra };
}

beforeEach(resetCluster);

describe("cluster store", () => {
  it("starts from the snapshot's minute and appends each second", () => {
    applyClusterFrame(frame(100, [counts("a", 3)], { type: "snapshot", seconds: [{ t: 98, flows: { a: counts("a", 1) } }, { t: 99, flows: {} }] }));
    expect(useCluster.getState().seconds.map((s) => s.t)).toEqual([98, 99, 100]);
    applyClusterFrame(frame(101, [counts("a", 5)]));
    const s = useCluster.getState();
    expect(s.t).toBe(101);
    expect(s.seconds.map((x) => x.t)).toEqual([98, 99, 100, 101]);
    expect(s.seconds[3].flows.a.in).toBe(5);
  });

  it("replaces a second sent twice (totals, not deltas) and forgets seconds past the minute", () => {
    applyClusterFrame(frame(100, [counts("a", 3)]));
    applyClusterFrame(frame(100, [counts("a", 4)]));
    expect(useCluster.getState().seconds).toHaveLength(1);
    expect(useCluster.getState().seconds[0].flows.a.in).toBe(4);
    applyClusterFrame(frame(160, []));
    expect(useCluster.getState().seconds.map((x) => x.t)).toEqual([160]);
  });

  it("lets a new snapshot (resync) replace the minute", () => {
    applyClusterFrame(frame(100, [counts("a", 3)]));
    applyClusterFrame(frame(90, [], { type: "snapshot", seconds: [] }));
    expect(useCluster.getState().seconds.map((x) => x.t)).toEqual([90]);
  });
});
