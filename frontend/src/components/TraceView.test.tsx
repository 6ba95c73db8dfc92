// The trace window closes on Escape whatever has focus, and takes focus as it opens; a memo hit and an error's chain
// of calls read apart from the rest.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { api } from "../api/client";
import type { CallTree } from "../api/types";
import { click, mount, until, type Mounted } from "./testing";
import { TraceView } from "./TraceView";

const tree: CallTree = {
  trace_id: "t1",
  calls: 2,
  roots: [
    {
      id: "c1", status: "succeeded", socket_name: "split", error: "", traceback: "", worker: "w", attempt: 1,
      duration_ms: 1, children: [
        { id: "c2", status: "dead", socket_name: "count", error: "ValueError: no", traceback: "", worker: "w", attempt: 3,
          duration_ms: 1, children: [] },
      ],
    },
  ] as unknown as CallTree["roots"],
};

let view: Mounted;
let outside: HTMLButtonElement;

beforeEach(() => {
  vi.spyOn(api, "trace").mockResolvedValue(tree);
  // Something else on the page that swallows its keys, as a list row or a canvas widget may.
  outside = document.createElement("button");
  outside.addEventListener("keydown", (e) => e.stopPropagation());
  document.body.append(outside);
});

afterEach(() => {
  view?.unmount();
  outside.remove();
  vi.restoreAllMocks();
});

describe("trace window", () => {
  it("takes focus as it opens", async () => {
    outside.focus();
    view = mount(<TraceView callId="c1" onClose={() => {}} />);
    expect(document.activeElement).toBe(view.host.querySelector('[role="dialog"]'));
    await until(() => view.host.querySelectorAll('[data-testid="trace-call"]').length === 2);
  });

  it("closes on Escape whatever has focus, and the designer behind it does not see that Escape", async () => {
    const onClose = vi.fn();
    const designer = vi.fn();
    window.addEventListener("keydown", designer);
    view = mount(<TraceView callId="c1" onClose={onClose} />);
    await until(() => view.host.querySelectorAll('[data-testid="trace-call"]').length === 2);
    outside.focus();
    outside.dispatchEvent(new KeyboardEvent("keydown", { key: "Escape", bubbles: true }));
    expect(onClose).toHaveBeenCalledTimes(1);
    document.body.dispatchEvent(new KeyboardEvent("keydown", { key: "Escape", bubbles: true }));
    expect(onClose).toHaveBeenCalledTimes(2);
    expect(designer).not.toHaveBeenCalled();
    window.removeEventListener("keydown", designer);
  });

  it("shows a call answered from a pure socket's memo as cached, and a failure's chain of calls above its traceback", async () => {
    vi.spyOn(api, "trace").mockResolvedValue({
      trace_id: "t2",
      calls: 3,
      roots: [
        {
          id: "r1", status: "dead", socket_name: "ratio", worker: "w", attempt: 1, duration_ms: 3,
          error: "ZeroDivisionError: division by zero (in divide(1, 0), called from ratio(1))",
          traceback: "Traceback…\nZeroDivisionError: division by zero", origin: "divide",
          chain: [{ socket: "divide", call: "divide(1, 0)" }, { socket: "ratio", call: "ratio(1)" }],
          children: [
            // Calls made from inside ratio's function: children, as plug hops are.
            { id: "r2", status: "cached", socket_name: "square", error: "", traceback: "", worker: "w", attempt: 1,
              duration_ms: null, children: [] },
            { id: "r3", status: "dead", socket_name: "divide", error: "ZeroDivisionError: division by zero",
              traceback: "", worker: "w", attempt: 1, duration_ms: 1, children: [] },
          ],
        },
      ] as unknown as CallTree["roots"],
    });
    view = mount(<TraceView callId="r1" onClose={() => {}} />);
    await until(() => view.host.querySelectorAll('[data-testid="trace-call"]').length === 3);
    const [root, cached, divide] = [...view.host.querySelectorAll('[data-testid="trace-call"]')] as HTMLElement[];
    const pill = cached.querySelector('[data-testid="call-status"]')!;
    expect(pill.textContent).toBe("cached");
    expect(pill.className).toContain("badge-call-cached");
    expect(pill.getAttribute("title")).toMatch(/memo/);
    expect(cached.querySelector('[data-testid="call-time"]')!.textContent).toBe("memo hit");
    expect(cached.querySelector('[data-testid="error-chain"]')).toBeNull();
    // Innermost first, each caller after it; only the call that has a chain shows one.
    const chain = root.querySelector(':scope > [data-testid="error-chain"]')!;
    expect([...chain.querySelectorAll("li")].map((li) => li.textContent)).toEqual(["divide(1, 0)", "← called from ratio(1)"]);
    expect(divide.querySelector('[data-testid="error-chain"]')).toBeNull();
    click([...root.querySelectorAll("button")].find((b) => b.textContent === "show traceback"));
    const traceback = root.querySelector(":scope > pre.traceback")!;
    expect(chain.compareDocumentPosition(traceback)).toBe(Node.DOCUMENT_POSITION_FOLLOWING);
  });

  it("shows a call's extra args beside its payload, so divide(5, 4) reads whole", async () => {
    vi.spyOn(api, "trace").mockResolvedValue({
      trace_id: "t3",
      calls: 1,
      roots: [
        { id: "d1", status: "succeeded", socket_name: "divide", error: "", traceback: "", worker: "w", attempt: 1,
          duration_ms: 1, input: "5", args: "[4]", output: "1.25", children: [] },
      ] as unknown as CallTree["roots"],
    });
    view = mount(<TraceView callId="d1" onClose={() => {}} />);
    await until(() => view.host.querySelectorAll('[data-testid="trace-call"]').length === 1);
    click([...view.host.querySelectorAll("button")].find((b) => b.textContent === "show data"));
    expect(view.host.querySelector('[data-testid="call-input"]')!.textContent).toContain("5");
    const args = view.host.querySelector('[data-testid="call-args"]')!;
    expect(args.textContent).toContain("args");
    expect(args.querySelector("code.payload-inline")!.textContent).toBe("[4]"); // one line, as kept
    // Input, then args, then output: the order of a call.
    const output = view.host.querySelector('[data-testid="call-output"]')!;
    expect(args.compareDocumentPosition(output)).toBe(Node.DOCUMENT_POSITION_FOLLOWING);
  });

  it("says a dead-lettered call failed, as the Runs list does", async () => {
    view = mount(<TraceView callId="c1" onClose={() => {}} />);
    await until(() => view.host.querySelectorAll('[data-testid="call-status"]').length === 2);
    const labels = [...view.host.querySelectorAll('[data-testid="call-status"]')].map((b) => b.textContent);
    expect(labels).toEqual(["succeeded", "failed (dead-lettered)"]);
  });
});
