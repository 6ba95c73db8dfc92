import { describe, expect, it } from "vitest";
import { counts, tick } from "./testing";
import { FlowWindow, WINDOW } from "./window";

describe("flow window", () => {
  it("adds the ticks of several workers for the same second", () => {
    const w = new FlowWindow();
    w.applyTick(tick(100, { s1: counts({ in: 3, out: 2, time_ms: 30, time_max: 20, bucket: 7 }) }));
    w.applyTick(tick(100, { s1: counts({ in: 4, out: 1, errors: 1, time_ms: 8, time_max: 5, bucket: 5 }) }, { worker: "w2" }));
    const c = w.counts(100, "s1")!;
    expect(c.in).toBe(7);
    expect(c.out).toBe(3);
    expect(c.errors).toBe(1);
    expect(c.time_ms).toBe(38);
    expect(c.time_max).toBe(20); // the slowest, not a sum
    expect(c.hist[7]).toBe(3);
    expect(c.hist[5]).toBe(4);
    expect(w.last).toBe(100);
  });

  it("adds a late tick into its older second while it is inside the window", () => {
    const w = new FlowWindow();
    w.applyTick(tick(100, { s1: counts({ in: 1 }) }));
    w.applyTick(tick(130, { s1: counts({ in: 1 }) }));
    expect(w.applyTick(tick(100, { s1: counts({ in: 2 }) }))).toBe(true);
    expect(w.counts(100, "s1")!.in).toBe(3);
    expect(w.last).toBe(130); // an old second does not move the clock back
  });

  it("rolls: seconds older than the window go, and a tick for them is dropped", () => {
    const w = new FlowWindow();
    w.applyTick(tick(100, { s1: counts({ in: 5 }) }));
    w.applyTick(tick(100 + WINDOW - 1, { s1: counts({ in: 1 }) }));
    expect(w.counts(100, "s1")!.in).toBe(5); // still the oldest second of the window
    w.advanceTo(100 + WINDOW + 1);
    expect(w.counts(100, "s1")).toBeUndefined();
    expect(w.applyTick(tick(100, { s1: counts({ in: 1 }) }))).toBe(false);
    expect(w.seconds.has(100)).toBe(false);
  });

  it("sums a processor's sockets: last-second rates, a minute's errors and p95, a sparkline", () => {
    const w = new FlowWindow();
    w.applyTick(tick(98, { s1: counts({ in: 10, errors: 2, time_max: 0.9, bucket: 3 }) }));
    w.applyTick(tick(100, { s1: counts({ in: 4, out: 4 }), s2: counts({ in: 1, out: 3 }) }));
    w.applyTick(tick(100, { s3: counts({ in: 7, out: 7 }) }, { processor_id: "p2" }));
    const views = w.processorViews();
    const p1 = views.get("p1")!;
    expect(p1.t).toBe(100);
    expect(p1.in).toBe(5);
    expect(p1.out).toBe(7);
    expect(p1.errors).toBe(2);
    expect(p1.p95).toBeCloseTo(0.5 + 0.4 * 0.95, 10); // bucket (0.5, 1] capped at 0.9, rank 9.5 of 10
    expect(p1.spark).toHaveLength(WINDOW);
    expect(p1.spark.slice(-3)).toEqual([10, 0, 5]);
    expect(views.get("p2")!.in).toBe(7);
    expect(views.get("p2")!.p95).toBeNull();
  });

  it("prefers the graph's owners and falls back to what ticks say", () => {
    const w = new FlowWindow();
    w.applySnapshot({ t: 50, seconds: [{ t: 50, sockets: { s1: counts({ in: 2 }), s9: counts({ in: 1 }) } }], depths: {} });
    // A snapshot does not say whose sockets these are: without the graph nothing can be summed.
    expect(w.processorViews().size).toBe(0);
    const views = w.processorViews(new Map([["s1", "p1"]]));
    expect(views.get("p1")!.in).toBe(2);
    expect(views.size).toBe(1);
  });

  it("skips a tick the snapshot already counted (written to Redis before the read, sent after it)", () => {
    const w = new FlowWindow();
    w.applySnapshot({ t: 100, seconds: [{ t: 100, sockets: { s1: counts({ in: 4 }) }, workers: ["w1"] }], depths: {} });
    expect(w.applyTick(tick(100, { s1: counts({ in: 4 }) }))).toBe(false);
    expect(w.applyTick(tick(100, { s1: counts({ in: 2 }) }, { worker: "w2" }))).toBe(true);
    expect(w.seconds.get(100)!.get("s1")!.in).toBe(6);
  });

  it("applies a snapshot, then adds ticks on top", () => {
    const w = new FlowWindow();
    w.applySnapshot({
      t: 100, // the last finished second
      seconds: [
        { t: 99, sockets: { s1: counts({ in: 3 }) } },
        { t: 100, sockets: { s1: counts({ in: 4 }) } },
      ],
      depths: { s1: { depth: 5, max: 10, held: false } },
    });
    expect(w.last).toBe(100);
    w.applyTick(tick(100, { s1: counts({ in: 1 }) })); // a slow worker's share of second 100
    w.applyTick(tick(101, { s1: counts({ in: 6 }) }));
    expect(w.counts(100, "s1")!.in).toBe(5);
    const p1 = w.processorViews().get("p1")!;
    expect(p1.in).toBe(6);
    expect(p1.spark.slice(-3)).toEqual([3, 5, 6]);
    expect(w.depths.s1.depth).toBe(5);
  });

  it("replaces everything on resync (a second snapshot)", () => {
    const w = new FlowWindow();
    w.applyTick(tick(200, { s1: counts({ in: 9 }) }));
    w.applyDepths({ t: 201, sockets: { s1: { depth: 50, max: 100, held: true } } });
    w.applySnapshot({ t: 201, seconds: [{ t: 201, sockets: { s1: counts({ in: 2 }) } }], depths: {} });
    expect(w.counts(200, "s1")).toBeUndefined();
    expect(w.counts(201, "s1")!.in).toBe(2);
    expect(w.depths).toEqual({});
  });

  it("marks a processor held by its sockets' depth flag or held time", () => {
    const w = new FlowWindow();
    w.applyTick(tick(10, { s1: counts({ in: 1 }) }));
    w.applyTick(tick(10, { s3: counts({ in: 1, held_ms: 300 }) }, { processor_id: "p2" }));
    w.applyDepths({ t: 10, sockets: { s1: { depth: 0, max: null, held: true } } });
    const views = w.processorViews();
    expect(views.get("p1")!.held).toBe(true);
    expect(views.get("p2")!.held).toBe(true);
  });

  it("keeps the newest call errors first, a few of them", () => {
    const w = new FlowWindow();
    const error = (n: number) => ({ socket_id: "s1", message_id: `m${n}`, trace_id: "t", error: "boom", error_type: "ValueError", at: n });
    for (let i = 0; i < 30; i++) w.applyTick(tick(10 + i, { s1: counts({ in: 1, errors: 1 }) }, { errors: [error(i)] }));
    expect(w.errors).toHaveLength(20);
    expect(w.errors[0].message_id).toBe("m29");
    expect(w.errors[0].processor_id).toBe("p1");
  });
});
