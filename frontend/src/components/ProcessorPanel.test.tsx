// A socket's memoization is set in its processor's panel (Pure, Memo TTL), kept in the canvas for the next Save,
// and marked on the socket.
import { act } from "react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { api } from "../api/client";
import type { GraphDoc } from "../api/types";
import { toDocument } from "../graph/model";
import { selectDirty, useDesigner } from "../stores/designer";
import { useToasts } from "../stores/toasts";
import { ProcessorPanel } from "./ProcessorPanel";
import { PureBadge } from "./ProcessorNode";
import { click, mount, type Mounted } from "./testing";

const s = () => useDesigner.getState();
const graph = (): GraphDoc => ({
  id: "f1", name: "demo", description: "", version: 3, layout: {}, plugs: [],
  processors: [{
    id: "p1", name: "maths", git_url: "file:///repo", ref: "main", module: "m", subdirectory: "", requirements: "",
    concurrency: 1, replicas: 1, replicas_max: 0, node: "", scheduler: "", retries: 3, time_limit: 300, rate_limit: "",
    position: { x: 0, y: 0 },
    // A document from before memoization: no pure, no memo_ttl.
    sockets: [{ id: "s1", name: "maths.square", function: "square" }],
  }],
  rights: { change: true, delete: true, reason: "" },
});

function type(input: HTMLInputElement, value: string) {
  act(() => {
    Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, "value")!.set!.call(input, value);
    input.dispatchEvent(new Event("input", { bubbles: true }));
  });
  act(() => void input.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", bubbles: true })));
}

let view: Mounted | undefined;
/** Mount the panel and let its first reads (the cluster's node and scheduler names) settle. */
async function open(): Promise<void> {
  view = mount(<ProcessorPanel id="p1" />);
  await act(async () => {});
}
const settings = () => view!.host.querySelector('[data-testid="socket-settings-maths.square"]') as HTMLElement;
const pure = () => settings().querySelector('input[type="checkbox"]') as HTMLInputElement;
const ttl = () => settings().querySelector('[aria-label="Memo TTL (s)"]') as HTMLInputElement;
const socket = () => s().nodes[0].data.processor.sockets[0];

beforeEach(() => {
  useToasts.getState().clear();
  useDesigner.setState({ flowId: "f1", remote: null });
  s().adopt(graph());
  vi.spyOn(api, "nodes").mockResolvedValue({ count: 0, next: null, previous: null, results: [] });
  vi.spyOn(api, "schedulers").mockResolvedValue({ count: 0, next: null, previous: null, results: [] });
});

afterEach(() => {
  view?.unmount();
  view = undefined;
  vi.restoreAllMocks();
});

describe("a socket's memoization in the processor panel", () => {
  it("starts off for a socket saved before it existed, and is saved with the graph once set", async () => {
    await open();
    expect(pure().checked).toBe(false);
    expect(ttl().value).toBe("");
    expect(ttl().disabled).toBe(true); // a time only means something for a pure socket
    click(pure());
    expect(socket()).toMatchObject({ pure: true, memo_ttl: null });
    expect(selectDirty(s())).toBe(true);
    expect(view!.host.querySelector('[data-testid="pure-maths.square"]')).not.toBeNull();
    type(ttl(), "600");
    expect(socket().memo_ttl).toBe(600);
    const out = toDocument(s().base!, s().nodes, s().edges) as { processors: { sockets: Record<string, unknown>[] }[] };
    expect(out.processors[0].sockets[0]).toMatchObject({ id: "s1", pure: true, memo_ttl: 600 });
    // Emptied: the server's default again.
    type(ttl(), "");
    expect(socket().memo_ttl).toBeNull();
    // Each change is one undo step.
    act(() => void s().undo());
    expect(socket().memo_ttl).toBe(600);
  });

  it("refuses a time that is not a whole number of seconds in range", async () => {
    await open();
    click(pure());
    type(ttl(), "-5");
    expect(socket().memo_ttl).toBeNull();
    expect(useToasts.getState().toasts.map((t) => t.text).join()).toMatch(/Memo TTL: give a whole number of seconds/);
  });

  it("cannot be changed in a read-only flow", async () => {
    s().adopt({ ...graph(), rights: { change: false, delete: false, reason: "view only" } });
    await open();
    expect(pure().disabled).toBe(true);
  });
});

describe("the pure mark on a socket", () => {
  it("shows only on a pure socket, with what it means on hover", () => {
    view = mount(<>
      <PureBadge socket={{ name: "a", pure: true, memo_ttl: 60 }} />
      <PureBadge socket={{ name: "b", pure: false, memo_ttl: null }} />
      <PureBadge socket={{ name: "c" }} />
    </>);
    const badges = [...view.host.querySelectorAll(".badge-pure")] as HTMLElement[];
    expect(badges.map((b) => b.dataset.testid)).toEqual(["pure-a"]);
    expect(badges[0].title).toMatch(/results memoized \(kept 60 s\)/);
  });
});
