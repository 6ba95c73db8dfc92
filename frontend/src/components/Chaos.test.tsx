// A chaos drill shows over the canvas while it is on and is turned off from there; a refusal (only the owner may
// change it) is said as every refusal is, and the flow's version the PATCH makes is this tab's own, not a save.
import { act } from "react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { api, ApiError } from "../api/client";
import type { FlowSummary, GraphDoc } from "../api/types";
import { useDesigner } from "../stores/designer";
import { useToasts } from "../stores/toasts";
import { ChaosBanner, ChaosControl } from "./Chaos";
import { click, mount, until, type Mounted } from "./testing";

const s = () => useDesigner.getState();
const flow = (over: Partial<FlowSummary>): FlowSummary => ({
  id: "f1", name: "demo", description: "", owner: "alice", chaos: 0, version: 4, created_at: "", updated_at: "", ...over,
});

// A flow of one processor at version 3 (imported from graph/model.test, its tests would run here again).
const graph = (over: Partial<GraphDoc> = {}): GraphDoc => ({
  id: "f1", name: "demo", description: "", version: 3, layout: {}, plugs: [],
  processors: [{
    id: "p1", name: "first", git_url: "file:///repo", ref: "main", module: "m", subdirectory: "", requirements: "",
    concurrency: 1, replicas: 1, replicas_max: 0, node: "", scheduler: "", retries: 3, time_limit: 300, rate_limit: "",
    position: { x: 0, y: 0 }, sockets: [{ id: "s1", name: "first.f", function: "f" }],
  }],
  rights: { change: true, delete: true, reason: "" },
  ...over,
});

/** Type into a React-controlled input. */
function type(input: HTMLInputElement, value: string) {
  act(() => {
    Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, "value")!.set!.call(input, value);
    input.dispatchEvent(new Event("input", { bubbles: true }));
  });
}

let view: Mounted | undefined;
const banner = () => view!.host.querySelector('[data-testid="chaos-banner"]') as HTMLElement | null;
const button = (text: string) => [...view!.host.querySelectorAll("button")].find((b) => b.textContent === text);

beforeEach(() => {
  useToasts.getState().clear();
  useDesigner.setState({ flowId: "f1", remote: null, chaos: 0, owner: "alice" });
  s().adopt(graph());
  vi.spyOn(api, "flow").mockResolvedValue(flow({ chaos: 20 }));
});

afterEach(() => {
  view?.unmount();
  view = undefined;
  vi.restoreAllMocks();
});

describe("the chaos banner", () => {
  it("is not there while the drill is off", () => {
    view = mount(<ChaosBanner />);
    expect(banner()).toBeNull();
  });

  it("says how many calls fail on purpose while the drill is on, and turns it off", async () => {
    const patch = vi.spyOn(api, "flowUpdate").mockResolvedValue(flow({ chaos: 0, version: 4 }));
    useDesigner.setState({ chaos: 20 });
    view = mount(<ChaosBanner />);
    expect(banner()!.textContent).toContain("Chaos drill: 20 % of calls fail on purpose");
    click(button("Turn off"));
    await until(() => banner() === null);
    expect(patch).toHaveBeenCalledWith("f1", { chaos: 0 });
    // The PATCH made version 4; nothing else changed, so the graph in hand is still the saved one.
    expect(s().base?.version).toBe(4);
    expect(useToasts.getState().toasts.map((t) => t.text)).toContain("Chaos drill off.");
  });

  it("has no off switch for someone who may not change the flow", () => {
    s().adopt(graph({ rights: { change: false, delete: false, reason: "view only" } }));
    useDesigner.setState({ chaos: 10 });
    view = mount(<ChaosBanner />);
    expect(banner()!.textContent).toContain("Chaos drill: 10 % of calls fail on purpose");
    expect(button("Turn off")).toBeUndefined();
  });

  it("says the server's refusal when someone but the owner turns it off, and stays on", async () => {
    const message = "Only the flow's owner may start or change a chaos drill (chaos).";
    vi.spyOn(api, "flowUpdate").mockRejectedValue(new ApiError(message, 403, "permission_denied"));
    useDesigner.setState({ chaos: 20 });
    view = mount(<ChaosBanner />);
    click(button("Turn off"));
    await until(() => useToasts.getState().toasts.some((t) => t.kind === "error" && t.text === message));
    expect(banner()).not.toBeNull();
    expect(s().chaos).toBe(20);
    expect(s().base?.version).toBe(3);
  });
});

describe("the chaos control in the toolbar", () => {
  it("sets a percent from its popover, which the banner then shows", async () => {
    const patch = vi.spyOn(api, "flowUpdate").mockResolvedValue(flow({ chaos: 15, version: 4 }));
    view = mount(<><ChaosControl /><ChaosBanner /></>);
    click(view.host.querySelector('[data-testid="chaos-button"]'));
    const input = view.host.querySelector('[aria-label="Chaos percent"]') as HTMLInputElement;
    expect(input.value).toBe("0");
    type(input, "15");
    click(button("Apply"));
    await until(() => banner() !== null);
    expect(patch).toHaveBeenCalledWith("f1", { chaos: 15 });
    expect(banner()!.textContent).toContain("Chaos drill: 15 % of calls fail on purpose");
    expect(view.host.querySelector('[data-testid="chaos-button"]')!.textContent).toBe("Chaos 15 %");
    expect(view.host.querySelector('[data-testid="chaos-popover"]')).toBeNull();
  });

  it("refuses a percent out of range without asking the server", () => {
    const patch = vi.spyOn(api, "flowUpdate");
    view = mount(<ChaosControl />);
    click(view.host.querySelector('[data-testid="chaos-button"]'));
    const input = view.host.querySelector('[aria-label="Chaos percent"]') as HTMLInputElement;
    type(input, "60");
    click(button("Apply"));
    expect(patch).not.toHaveBeenCalled();
    expect(useToasts.getState().toasts.map((t) => t.text)).toContain("Chaos: give a whole percent from 0 to 45 (0 turns the drill off).");
  });
});

describe("the flow's version a chaos change makes", () => {
  it("is not taken for someone's save, even when its notice comes before the answer", async () => {
    let answer: (value: FlowSummary) => void = () => {};
    vi.spyOn(api, "flowUpdate").mockImplementation(() => new Promise((resolve) => (answer = resolve)));
    s().updateProcessor("p1", { concurrency: 2 }); // unsaved changes: a save elsewhere would show a banner
    const done = s().setChaos(20);
    s().remoteSaved(4, "", ""); // the PATCH's own notice names no one and no tab
    expect(s().remote).toBeNull();
    answer(flow({ chaos: 20, version: 4 }));
    await done;
    expect(s().chaos).toBe(20);
    expect(s().base?.version).toBe(4);
    // A real save after it is still told.
    s().remoteSaved(5, "bob", "their-tab");
    expect(s().remote).toEqual({ version: 5, by: "bob" });
  });
});
