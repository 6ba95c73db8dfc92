import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { FakeWebSocket } from "./testing";
import {
  BACKOFF, DEAD_MS, PING_MS, backoff, disconnect, retryNow, send, standing, subscribe, useLive, wsUrl,
} from "./socket";

const last = () => FakeWebSocket.all[FakeWebSocket.all.length - 1];
const state = (path: string) => useLive.getState().byPath[path];
const PATH = "/ws/flows/f1/";

beforeEach(() => {
  FakeWebSocket.all = [];
  vi.useFakeTimers();
  vi.stubGlobal("WebSocket", FakeWebSocket);
  vi.spyOn(Math, "random").mockReturnValue(1); // the longest delay of each step: deterministic
});

afterEach(() => {
  disconnect(PATH);
  disconnect("/ws/metrics/");
  vi.useRealTimers();
  vi.unstubAllGlobals();
  vi.restoreAllMocks();
});

describe("backoff", () => {
  it("doubles from half a second and stops at ten", () => {
    const top = (n: number) => backoff(n, () => 1);
    expect([0, 1, 2, 3, 4, 5, 6, 12].map(top)).toEqual([500, 1000, 2000, 4000, 8000, 10000, 10000, 10000]);
  });

  it("keeps at least half of each step and spreads the rest", () => {
    expect(backoff(0, () => 0)).toBe(250);
    expect(backoff(9, () => 0)).toBe(BACKOFF.capMs / 2);
    expect(backoff(2, () => 0.5)).toBe(1500);
  });
});

describe("live socket", () => {
  it("dials the same origin with ws or wss", () => {
    expect(wsUrl("/ws/metrics/", { protocol: "http:", host: "h:8000" })).toBe("ws://h:8000/ws/metrics/");
    expect(wsUrl("/ws/metrics/", { protocol: "https:", host: "h" })).toBe("wss://h/ws/metrics/");
  });

  it("shares one connection per path and hands every frame to every subscriber", () => {
    const a: unknown[] = [];
    const b: unknown[] = [];
    const offA = subscribe(PATH, (f) => a.push(f));
    const offB = subscribe(PATH, (f) => b.push(f));
    expect(FakeWebSocket.all).toHaveLength(1);
    expect(state(PATH)).toEqual({ state: "connecting" });
    last().accept();
    expect(state(PATH)).toEqual({ state: "connected" });
    last().push({ type: "tick", t: 1 });
    expect(a).toEqual([{ type: "tick", t: 1 }]);
    expect(b).toEqual(a);
    offA();
    expect(last().closedWith).toBeUndefined();
    offB();
    expect(last().closedWith).toBe(1000);
    expect(state(PATH)).toBeUndefined();
  });

  it("reconnects with growing delays and resets them once connected", () => {
    subscribe(PATH, () => {});
    last().accept();
    last().drop();
    expect(state(PATH)).toEqual({ state: "reconnecting", attempt: 1, retryInMs: 500 });
    vi.advanceTimersByTime(499);
    expect(FakeWebSocket.all).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(FakeWebSocket.all).toHaveLength(2);
    last().drop(); // refused again before opening
    expect(state(PATH)).toMatchObject({ retryInMs: 1000, attempt: 2 });
    vi.advanceTimersByTime(1000);
    last().drop();
    expect(state(PATH)).toMatchObject({ retryInMs: 2000 });
    vi.advanceTimersByTime(2000);
    last().accept();
    expect(state(PATH)).toEqual({ state: "connected" });
    last().drop();
    expect(state(PATH)).toMatchObject({ retryInMs: 500 });
  });

  it("does not dial again after the server says no, and says why", () => {
    subscribe(PATH, () => {});
    last().accept();
    last().push({ type: "error", message: "no such flow" });
    last().drop(4404);
    vi.advanceTimersByTime(60_000);
    expect(FakeWebSocket.all).toHaveLength(1);
    const s = state(PATH);
    expect(s.state).toBe("closed");
    expect(s.state === "closed" && s.reason).toMatch(/no longer exists.*\(no such flow\)/);
  });

  it("dials again after a bad frame close (4400): a new connection is clean", () => {
    subscribe(PATH, () => {});
    last().accept();
    last().drop(4400);
    vi.advanceTimersByTime(500);
    expect(FakeWebSocket.all).toHaveLength(2);
  });

  it("stops reconnecting when the last subscriber leaves", () => {
    const off = subscribe(PATH, () => {});
    last().drop();
    off();
    vi.advanceTimersByTime(60_000);
    expect(FakeWebSocket.all).toHaveLength(1);
    expect(state(PATH)).toBeUndefined();
  });

  it("sends frames only while open", () => {
    subscribe(PATH, () => {});
    expect(send(PATH, { type: "resync" })).toBe(false);
    last().accept();
    expect(send(PATH, { type: "resync" })).toBe(true);
    expect(last().sent).toEqual([{ type: "resync" }]);
  });

  it("sends standing frames when it opens and after every reconnect, until they are released", () => {
    subscribe(PATH, () => {});
    const release = standing(PATH, "tap:p1", { type: "tap", plug: "p1" }); // not open yet: sent when it opens
    last().accept();
    expect(last().sent).toEqual([{ type: "tap", plug: "p1" }]);
    const releaseOld = standing(PATH, "tap:p2", { type: "tap", plug: "p2", rate: 1 });
    const releaseNew = standing(PATH, "tap:p2", { type: "tap", plug: "p2", rate: 5 }); // replaces the one before, sent at once
    expect(last().sent).toHaveLength(3);
    releaseOld(); // replaced since: does nothing
    last().drop();
    vi.advanceTimersByTime(500);
    last().accept();
    expect(last().sent).toEqual([{ type: "tap", plug: "p1" }, { type: "tap", plug: "p2", rate: 5 }]);
    release();
    last().drop();
    vi.advanceTimersByTime(500);
    last().accept();
    expect(last().sent).toEqual([{ type: "tap", plug: "p2", rate: 5 }]);
    releaseNew();
  });

  it("pings, and drops a connection that went silent", () => {
    subscribe(PATH, () => {});
    last().accept();
    vi.advanceTimersByTime(PING_MS);
    expect(last().sent).toEqual([{ type: "ping" }]);
    // No pong: the first beat after DEAD_MS of silence (the third, at 60 s) gives the connection up.
    vi.advanceTimersByTime(2 * PING_MS);
    expect(FakeWebSocket.all[0].closedWith).toBeDefined();
    expect(3 * PING_MS).toBeGreaterThan(DEAD_MS);
    expect(state(PATH)).toMatchObject({ state: "reconnecting" });
    expect(FakeWebSocket.all).toHaveLength(1);
    vi.advanceTimersByTime(500);
    expect(FakeWebSocket.all).toHaveLength(2);
  });

  it("retries at once when asked, also after a final close", () => {
    subscribe(PATH, () => {});
    last().drop(4401);
    retryNow(); // the browser came back online: not for a final close
    expect(FakeWebSocket.all).toHaveLength(1);
    retryNow(PATH);
    expect(FakeWebSocket.all).toHaveLength(2);
    expect(state(PATH)).toEqual({ state: "connecting" });
  });

  it("keeps dispatching when a handler throws or unsubscribes itself", () => {
    const seen: string[] = [];
    vi.spyOn(console, "error").mockImplementation(() => {});
    subscribe(PATH, () => {
      throw new Error("boom");
    });
    const off = subscribe(PATH, () => {
      seen.push("once");
      off();
    });
    subscribe(PATH, (f) => seen.push(String(f.type)));
    last().accept();
    last().push({ type: "pong" });
    last().push({ type: "pong" });
    expect(seen).toEqual(["once", "pong", "pong"]);
  });
});
