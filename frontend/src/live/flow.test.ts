import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { useMetrics } from "../stores/metrics";
import { useStatus } from "../stores/status";
import { counts, tick } from "../metrics/testing";
import { followFlow } from "./flow";
import { useLive } from "./socket";
import { FakeWebSocket } from "./testing";

const last = () => FakeWebSocket.all[FakeWebSocket.all.length - 1];
const row = (id: string, status: string) => ({ id, name: id, status, requested_status: status, status_message: "", commit: "abc" });

beforeEach(() => {
  FakeWebSocket.all = [];
  vi.useFakeTimers();
  vi.stubGlobal("WebSocket", FakeWebSocket);
  vi.stubGlobal("fetch", vi.fn(() => Promise.reject(new Error("no REST in this test"))));
  useStatus.getState().set([row("p1", "stopped")]);
});

afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

describe("the designer's live feed", () => {
  it("puts status frames into the status store and counts into the metrics store", () => {
    const stop = followFlow("f1");
    expect(last().url).toMatch(/\/ws\/flows\/f1\/$/);
    last().accept();
    last().push({
      type: "snapshot", flow_id: "f1", t: 100, seconds: [], depths: { s1: { depth: 2, max: 10, held: false } }, workers: [],
      processors: [{ id: "p1", status: "starting", requested_status: "running", status_message: "building" }],
    });
    expect(useStatus.getState().byId.p1).toMatchObject({ status: "starting", name: "p1", commit: "abc" });
    expect(useMetrics.getState().depths.s1.depth).toBe(2);
    last().push({ type: "status", flow_id: "f1", processors: [{ id: "p1", status: "running", requested_status: "running", status_message: "" }] });
    expect(useStatus.getState().byId.p1.status).toBe("running");
    last().push(tick(100, { s1: counts({ in: 3 }) }));
    vi.advanceTimersByTime(1000);
    expect(useMetrics.getState().processors.p1.in).toBe(3);
    // Came up: the rows are read once for the commit it was pinned to (live states do not carry it).
    expect(fetch).toHaveBeenCalledTimes(1);
    expect(vi.mocked(fetch).mock.calls[0][0]).toBe("/api/processors/?flow=f1&limit=1000");
    stop();
    expect(last().closedWith).toBe(1000);
    expect(useLive.getState().byPath["/ws/flows/f1/"]).toBeUndefined();
    expect(useMetrics.getState().processors).toEqual({});
  });

  it("ignores frames of another flow", () => {
    const stop = followFlow("f1");
    last().accept();
    last().push({ type: "status", flow_id: "f2", processors: [{ id: "p1", status: "error", requested_status: "running", status_message: "" }] });
    expect(useStatus.getState().byId.p1.status).toBe("stopped");
    stop();
  });
});
