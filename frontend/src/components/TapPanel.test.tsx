// The tap panel: a plug's or socket's Tap button opens a tap, the panel lists what passes newest first (a cut
// payload said to be cut), pauses and clears without untapping, asks again with a new sample or rate, and untaps
// as it closes.
import { act } from "react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { api } from "../api/client";
import type { CallTree, GraphDoc, SocketDoc } from "../api/types";
import { followFlow } from "../live/flow";
import { FakeWebSocket, tapEvent } from "../live/testing";
import { useDesigner } from "../stores/designer";
import { closeTaps, openTap, useTaps } from "../stores/taps";
import { useToasts } from "../stores/toasts";
import { PlugPanel } from "./PlugPanel";
import { SocketTools } from "./SocketTools";
import { TapPanel, tapClock } from "./TapPanel";
import { click, mount, until, type Mounted } from "./testing";

const graph: GraphDoc = {
  id: "f1", name: "demo", description: "", version: 3, layout: {},
  processors: ["split", "count"].map((name, i) => ({
    id: `n${i}`, name, git_url: "file:///repo", ref: "main", module: "m", subdirectory: "", requirements: "",
    concurrency: 1, replicas: 1, replicas_max: 0, node: "", scheduler: "", retries: 3, time_limit: 300, rate_limit: "",
    position: { x: 300 * i, y: 0 }, sockets: [{ id: `s${i}`, name, function: name }],
  })) as GraphDoc["processors"],
  plugs: [{ id: "p1", name: "split-to-count", source: "s0", target: "s1", kind: "result", argument: "" }],
  rights: { change: true, delete: true, reason: "" },
};

let view: Mounted | undefined;
let stop: () => void;
const ws = () => FakeWebSocket.all[FakeWebSocket.all.length - 1];
const push = (frame: unknown) => act(() => ws().push(frame));
const button = (text: string) => [...view!.host.querySelectorAll("button")].find((b) => b.textContent === text);
const q = (selector: string) => view!.host.querySelector(selector) as HTMLElement | null;
const rows = () => [...view!.host.querySelectorAll('[data-testid="tap-event"]')] as HTMLElement[];

function setValue(element: HTMLInputElement | HTMLSelectElement, value: string, event: string) {
  act(() => {
    const proto = element instanceof HTMLSelectElement ? HTMLSelectElement.prototype : HTMLInputElement.prototype;
    Object.getOwnPropertyDescriptor(proto, "value")!.set!.call(element, value);
    element.dispatchEvent(new Event(event, { bubbles: true }));
  });
}

beforeEach(() => {
  FakeWebSocket.all = [];
  vi.stubGlobal("WebSocket", FakeWebSocket);
  vi.stubGlobal("fetch", vi.fn(() => Promise.reject(new Error("no REST in this test"))));
  useToasts.getState().clear();
  useDesigner.setState({ flowId: "f1" });
  useDesigner.getState().adopt(graph);
  stop = followFlow("f1");
  ws().accept();
  ws().sent = [];
});

afterEach(() => {
  view?.unmount();
  view = undefined;
  act(() => closeTaps());
  stop();
  vi.unstubAllGlobals();
  vi.restoreAllMocks();
});

describe("tap buttons", () => {
  it("tap the selected plug, and untap it", () => {
    view = mount(<PlugPanel id="p1" />);
    click(button("Tap"));
    expect(ws().sent).toEqual([{ type: "tap", plug: "p1", sample: 1, rate: 10 }]);
    expect(useTaps.getState().taps.p1).toMatchObject({ kind: "plug", name: "split-to-count" });
    expect(button("Untap")!.getAttribute("aria-pressed")).toBe("true");
    click(button("Untap"));
    expect(ws().sent.slice(1)).toEqual([{ type: "untap", target: "p1" }]);
    expect(button("Tap")).toBeDefined();
  });

  it("tap a socket from its tools", () => {
    vi.spyOn(api, "flowCalls").mockResolvedValue({ count: 0, next: null, previous: null, results: [] });
    view = mount(<SocketTools socket={{ id: "s1", name: "count", function: "count", queue: "q.s1" } as SocketDoc} />);
    click(button("Tap"));
    expect(ws().sent).toEqual([{ type: "tap", socket: "s1", sample: 1, rate: 10 }]);
  });
});

describe("tap panel", () => {
  beforeEach(() => {
    act(() => openTap("/ws/flows/f1/", "plug", "p1", "split-to-count"));
    view = mount(<TapPanel />);
  });

  it("waits for messages, then lists them newest first with time, route, message, attempt and payload", () => {
    expect(q('[data-testid="tap-waiting"]')!.textContent).toBe("waiting for messages…");
    push({ type: "tapping", target: "p1", kind: "plug", sample: 1, rate: 10 });
    const cut = `{"text": "${"x".repeat(1010)}…`;
    const at = new Date(2025, 0, 2, 9, 5, 7, 42).getTime() / 1000;
    push({ type: "tap", target: "p1", kind: "plug", events: [tapEvent(1), tapEvent(2, { at, attempt: 3, payload: cut })] });
    expect(q('[data-testid="tap-waiting"]')).toBeNull();
    const [newest, oldest] = rows();
    expect(rows()).toHaveLength(2);
    expect(newest.querySelector('[data-testid="tap-time"]')!.textContent).toBe("09:05:07.042");
    expect(newest.textContent).toContain("split → count");
    expect(newest.querySelector("button.tap-message")!.textContent).toBe("m2-0000-");
    expect(newest.querySelector('[data-testid="tap-attempt"]')!.textContent).toBe("attempt 3");
    expect(newest.querySelector('[data-testid="tap-payload"]')!.textContent).toBe(cut);
    expect(newest.querySelector("pre")!.className).toBe("tap-payload");
    expect(newest.textContent).toContain("preview cut at 1 KiB");
    expect(oldest.querySelector('[data-testid="tap-payload"]')!.textContent).toBe('{"n": 1}');
    expect(oldest.querySelector('[data-testid="tap-attempt"]')).toBeNull();
    expect(oldest.textContent).not.toContain("cut at");
    expect(tapClock(at)).toMatch(/^\d\d:\d\d:\d\d\.\d{3}$/);
  });

  it("pauses without untapping, resumes, and clears", () => {
    push({ type: "tap", target: "p1", kind: "plug", events: [tapEvent(1)] });
    click(button("Pause"));
    push({ type: "tap", target: "p1", kind: "plug", events: [tapEvent(2), tapEvent(3)] });
    expect(rows()).toHaveLength(1);
    expect(q('[data-testid="tap-missed"]')!.textContent).toBe("2 messages passed while paused (not kept).");
    click(button("Resume"));
    expect(q('[data-testid="tap-missed"]')).toBeNull();
    push({ type: "tap", target: "p1", kind: "plug", events: [tapEvent(4)] });
    expect(rows().map((r) => r.querySelector("pre")!.textContent)).toEqual(['{"n": 4}', '{"n": 1}']);
    click(button("Clear"));
    expect(rows()).toHaveLength(0);
    expect(q('[data-testid="tap-waiting"]')).not.toBeNull();
    expect(ws().sent).toEqual([{ type: "tap", plug: "p1", sample: 1, rate: 10 }]); // no untap on the way
  });

  it("asks again with a new sample or rate, refuses a rate out of range, and untaps as it closes", () => {
    setValue(q('select[aria-label="Sample"]') as HTMLSelectElement, "0.01", "change");
    const rate = q('input[aria-label="Rate"]') as HTMLInputElement;
    setValue(rate, "2.5", "input");
    act(() => rate.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", bubbles: true })));
    setValue(rate, "99", "input");
    act(() => rate.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", bubbles: true })));
    expect(useToasts.getState().toasts.map((t) => t.text)).toEqual([
      "Rate: give a number of messages per second from 0.1 to 50.",
    ]);
    expect(rate.value).toBe("2.5");
    expect(ws().sent.slice(1)).toEqual([
      { type: "tap", plug: "p1", sample: 0.01, rate: 10 },
      { type: "tap", plug: "p1", sample: 0.01, rate: 2.5 },
    ]);
    click(q('button[aria-label="Close taps"]'));
    expect(ws().sent.slice(3)).toEqual([{ type: "untap", target: "p1" }]);
    expect(q('[data-testid="tap-panel"]')).toBeNull();
  });

  it("says why the server refused a tap", () => {
    push({ type: "error", message: "no plug p1 in this flow" });
    expect(q('[role="alert"]')!.textContent).toContain("a new plug can be tapped once the flow is saved");
    expect(q('[data-testid="tap-waiting"]')).toBeNull();
  });

  it("opens a message's trace from its id", async () => {
    const tree = { trace_id: "t1", calls: 0, roots: [] } as unknown as CallTree;
    const trace = vi.spyOn(api, "trace").mockResolvedValue(tree);
    push({ type: "tap", target: "p1", kind: "plug", events: [tapEvent(1)] });
    click(q("button.tap-message"));
    await until(() => !!q('[role="dialog"]')?.textContent?.includes("0 calls in trace t1"));
    expect(trace).toHaveBeenCalledWith("m1-0000-0000");
  });
});
