import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { counts, tick } from "../metrics/testing";
import { applyFrame, beat, PUBLISH_MS, resetMetrics, setOwners, startMetrics, useMetrics } from "./metrics";

const s = () => useMetrics.getState();
let stop: () => void;

beforeEach(() => {
  vi.useFakeTimers();
  vi.setSystemTime(1001_100); // 100 ms into second 1001: second 1000 is the last finished one
  stop = startMetrics("f1");
});

afterEach(() => {
  stop();
  vi.useRealTimers();
});

/** What the server sends on connect: `t` is the last finished second. */
function snapshot(t = 1000) {
  applyFrame({
    type: "snapshot",
    flow_id: "f1",
    t,
    processors: [],
    seconds: [{ t, sockets: { s1: counts({ in: 4 }) } }],
    depths: { s1: { depth: 3, max: 10, held: false } },
    workers: [],
  });
}

describe("metrics store", () => {
  it("shows a snapshot at once and batches ticks into one update a second", () => {
    setOwners(new Map([["s1", "p1"]]));
    snapshot();
    expect(s().t).toBe(1000);
    expect(s().processors.p1.in).toBe(4);
    expect(s().depths.s1.depth).toBe(3);
    const renders = vi.fn();
    const off = useMetrics.subscribe(renders);
    vi.setSystemTime(1002_020);
    applyFrame(tick(1001, { s1: counts({ in: 2 }) }));
    applyFrame(tick(1001, { s1: counts({ in: 3 }) }, { worker: "w2" }));
    applyFrame({ type: "depths", flow_id: "f1", t: 1001, sockets: { s1: { depth: 8, max: 10, held: false } } });
    expect(renders).not.toHaveBeenCalled();
    expect(s().processors.p1.in).toBe(4);
    vi.setSystemTime(1002_500);
    vi.advanceTimersByTime(PUBLISH_MS);
    expect(renders).toHaveBeenCalledTimes(1);
    expect(s().t).toBe(1001);
    expect(s().processors.p1.in).toBe(5);
    expect(s().processors.p1.spark.slice(-2)).toEqual([4, 5]);
    expect(s().depths.s1.depth).toBe(8);
    off();
  });

  it("shows a new second only once the other workers' ticks for it had time to come", () => {
    setOwners(new Map([["s1", "p1"]]));
    snapshot(1000); // second 1000: 4 in
    vi.setSystemTime(1002_020);
    applyFrame(tick(1001, { s1: counts({ in: 2 }) })); // the first worker of second 1001
    beat(1002_100);
    expect(s().t).toBe(1000);
    expect(s().processors.p1.in).toBe(4);
    applyFrame(tick(1001, { s1: counts({ in: 3 }) }, { worker: "w2" }));
    beat(1002_500);
    expect(s().t).toBe(1001);
    expect(s().processors.p1.in).toBe(5);
  });

  it("keeps the objects of views that did not change", () => {
    snapshot();
    applyFrame(tick(999, { s9: counts({ in: 1 }) }, { processor_id: "p9" }));
    beat();
    const before = s();
    applyFrame({ type: "depths", flow_id: "f1", t: 1000, sockets: { s1: { depth: 3, max: 10, held: false }, s9: { depth: 1, max: null, held: false } } });
    beat();
    expect(s().depths.s1).toBe(before.depths.s1);
    expect(s().depths.s9).toEqual({ depth: 1, max: null, held: false });
    expect(s().processors).toBe(before.processors);
  });

  it("lets rates fall to zero when an idle flow sends nothing", () => {
    setOwners(new Map([["s1", "p1"]]));
    snapshot(1000);
    expect(s().processors.p1.in).toBe(4);
    vi.advanceTimersByTime(3 * PUBLISH_MS); // the wall clock is in second 1004 now
    expect(s().t).toBeGreaterThanOrEqual(1002);
    expect(s().processors.p1.in).toBe(0);
    expect(s().processors.p1.spark.some((v) => v === 4)).toBe(true); // still in the sparkline
  });

  it("starts from nothing for another flow", () => {
    setOwners(new Map([["s1", "p1"]]));
    snapshot();
    resetMetrics("f2");
    expect(s()).toMatchObject({ flowId: "f2", processors: {}, depths: {}, t: 0 });
  });
});
