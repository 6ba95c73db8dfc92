// Taps over the designer's live feed: the tap and untap frames sent as taps open and close, the answers kept newest
// first, a refusal put on the tap it answers, and every open tap asked for again after a reconnect.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { followFlow } from "../live/flow";
import { FakeWebSocket, tapEvent } from "../live/testing";
import { MAX_EVENTS, applyTapFrame, closeTap, closeTaps, openTap, pauseTap, retap, useTaps } from "./taps";

const last = () => FakeWebSocket.all[FakeWebSocket.all.length - 1];
const F1 = "/ws/flows/f1/";
const tap = (target: string) => useTaps.getState().taps[target];

let stop: () => void;

beforeEach(() => {
  FakeWebSocket.all = [];
  vi.useFakeTimers();
  vi.spyOn(Math, "random").mockReturnValue(1);
  vi.stubGlobal("WebSocket", FakeWebSocket);
  vi.stubGlobal("fetch", vi.fn(() => Promise.reject(new Error("no REST in this test"))));
  stop = followFlow("f1");
  last().accept();
  last().sent = [];
});

afterEach(() => {
  closeTaps();
  stop();
  vi.useRealTimers();
  vi.unstubAllGlobals();
  vi.restoreAllMocks();
});

describe("taps", () => {
  it("sends tap as one opens and untap as it closes", () => {
    openTap(F1, "plug", "p1", "split-to-count");
    expect(last().sent).toEqual([{ type: "tap", plug: "p1", sample: 1, rate: 10 }]);
    expect(tap("p1").state).toBe("asked");
    last().push({ type: "tapping", target: "p1", kind: "plug", sample: 1, rate: 10 });
    expect(tap("p1").state).toBe("tapping");
    openTap(F1, "plug", "p1", "split-to-count"); // already open: only shown
    openTap(F1, "socket", "s1", "count");
    expect(last().sent.slice(1)).toEqual([{ type: "tap", socket: "s1", sample: 1, rate: 10 }]);
    expect(useTaps.getState().shown).toBe("s1");
    closeTap("s1");
    expect(last().sent.slice(2)).toEqual([{ type: "untap", target: "s1" }]);
    expect(useTaps.getState().shown).toBe("p1");
    closeTaps(); // the panel closed, or another flow opened
    expect(last().sent.slice(3)).toEqual([{ type: "untap", target: "p1" }]);
    expect(useTaps.getState()).toMatchObject({ taps: {}, shown: null });
  });

  it("keeps events newest first, at most MAX_EVENTS, and none while paused", () => {
    openTap(F1, "plug", "p1", "split-to-count");
    last().push({ type: "tap", target: "p1", kind: "plug", events: [tapEvent(1), tapEvent(2)] });
    last().push({ type: "tap", target: "p1", kind: "plug", events: [tapEvent(3)] });
    expect(tap("p1").events.map((e) => e.message_id)).toEqual(["m3", "m2", "m1"].map((m) => `${m}-0000-0000`));
    last().push({ type: "tap", target: "p9", kind: "plug", events: [tapEvent(4)] }); // not ours (any more)
    last().push({
      type: "tap", target: "p1", kind: "plug", events: Array.from({ length: MAX_EVENTS }, (_, i) => tapEvent(10 + i)),
    });
    expect(tap("p1").events).toHaveLength(MAX_EVENTS);
    expect(tap("p1").events[0].message_id).toBe(`m${9 + MAX_EVENTS}-0000-0000`);
    pauseTap("p1", true);
    last().push({ type: "tap", target: "p1", kind: "plug", events: [tapEvent(1000), tapEvent(1001)] });
    expect(tap("p1").events[0].message_id).toBe(`m${9 + MAX_EVENTS}-0000-0000`);
    expect(tap("p1").missed).toBe(2);
    expect(last().sent).toHaveLength(1); // paused here only: the server keeps tapping
  });

  it("asks again with a new sample or rate", () => {
    openTap(F1, "plug", "p1", "split-to-count");
    retap("p1", { sample: 0.1 });
    retap("p1", { rate: 2.5 });
    expect(last().sent.slice(1)).toEqual([
      { type: "tap", plug: "p1", sample: 0.1, rate: 10 },
      { type: "tap", plug: "p1", sample: 0.1, rate: 2.5 },
    ]);
  });

  it("puts a refusal on the tap it answers, and asks for it no more", () => {
    for (const id of ["p1", "p2", "p3", "p4"]) {
      openTap(F1, "plug", id, id);
      last().push({ type: "tapping", target: id, kind: "plug", sample: 1, rate: 10 });
    }
    openTap(F1, "plug", "p5", "p5");
    last().push({ type: "error", message: "at most 4 taps at once: untap one first" });
    expect(tap("p5")).toMatchObject({ state: "refused", error: "The server refused the tap: at most 4 taps at once: untap one first" });
    expect(tap("p4").state).toBe("tapping");
    openTap(F1, "socket", "s9", "new");
    applyTapFrame({ type: "error", message: "no socket s9 in this flow" });
    expect(tap("s9").error).toMatch(/can be tapped once the flow is saved/);
    // A refused tap is not held by the server: closing it sends nothing, and a reconnect does not ask for it.
    const sent = last().sent.length;
    closeTap("s9");
    expect(last().sent).toHaveLength(sent);
    last().drop();
    vi.advanceTimersByTime(500);
    last().accept();
    expect(last().sent.map((f) => (f as { plug?: string }).plug)).toEqual(["p1", "p2", "p3", "p4"]);
  });

  it("taps again after a reconnect, with the settings last asked for", () => {
    openTap(F1, "plug", "p1", "split-to-count");
    openTap(F1, "socket", "s1", "count");
    retap("s1", { sample: 0.01 });
    last().push({ type: "tap", target: "p1", kind: "plug", events: [tapEvent(1)] });
    last().drop(); // the server forgets the connection's taps with it
    vi.advanceTimersByTime(500);
    expect(FakeWebSocket.all).toHaveLength(2);
    last().accept();
    expect(last().sent).toEqual([
      { type: "tap", plug: "p1", sample: 1, rate: 10 },
      { type: "tap", socket: "s1", sample: 0.01, rate: 10 },
    ]);
    expect(tap("p1").events).toHaveLength(1); // what was seen stays
    closeTap("p1");
    last().drop();
    vi.advanceTimersByTime(500);
    last().accept();
    expect(last().sent).toEqual([{ type: "tap", socket: "s1", sample: 0.01, rate: 10 }]);
  });

  it("closes the taps of a flow before tapping another", () => {
    openTap(F1, "plug", "p1", "split-to-count");
    const stop2 = followFlow("f2");
    const f2 = last();
    f2.accept();
    openTap("/ws/flows/f2/", "plug", "q1", "other");
    expect(FakeWebSocket.all[0].sent).toEqual([
      { type: "tap", plug: "p1", sample: 1, rate: 10 },
      { type: "untap", target: "p1" },
    ]);
    expect(f2.sent).toEqual([{ type: "tap", plug: "q1", sample: 1, rate: 10 }]);
    expect(Object.keys(useTaps.getState().taps)).toEqual(["q1"]);
    closeTaps();
    stop2();
  });
});
