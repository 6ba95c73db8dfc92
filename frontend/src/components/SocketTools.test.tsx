// A test message that succeeded only because an error plug took a failure on its way says so, above its result.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { api, ApiError } from "../api/client";
import type { CallTree, SocketDoc } from "../api/types";
import { useDesigner } from "../stores/designer";
import { SocketTools } from "./SocketTools";
import { click, mount, until, type Mounted } from "./testing";

const socket = { id: "s1", name: "greeter.do_something", function: "do_something", queue: "q.s1" } as SocketDoc;

const traceWith = (status: string): CallTree => ({
  trace_id: "t1",
  calls: 2,
  roots: [
    {
      id: "m1", status: "succeeded", socket_name: "greeter.do_something", error: "", traceback: "", children: [
        { id: "c2", status, socket_name: "greeter.fail", error: "ValueError: boom",
          traceback: 'Traceback…\n  raise ValueError("boom")', children: [] },
      ],
    },
  ] as unknown as CallTree["roots"],
});

let view: Mounted;
const answer = () => view.host.querySelector('[data-testid="answer"]') as HTMLElement | null;
const send = () => click([...view.host.querySelectorAll("button")].find((b) => b.textContent === "Send"));

beforeEach(() => {
  useDesigner.setState({ flowId: "f1" });
  vi.spyOn(api, "flowCalls").mockResolvedValue({ count: 0, next: null, previous: null, results: [] });
  vi.spyOn(api, "send").mockResolvedValue({ id: "m1", results: ["hello"] });
});

afterEach(() => {
  view?.unmount();
  vi.restoreAllMocks();
});

describe("a test message's answer", () => {
  it("names a failure an error plug took, once the trace is written, with its traceback a click away", async () => {
    // Lineage lands about a second after the answer: not found at first.
    const trace = vi.spyOn(api, "trace")
      .mockRejectedValueOnce(new ApiError("Not found.", 404))
      .mockResolvedValue(traceWith("failed"));
    view = mount(<SocketTools socket={socket} />);
    send();
    await until(() => answer()?.dataset.outcome === "handled");
    expect(trace).toHaveBeenCalledWith("m1");
    const handled = answer()!.querySelector('[data-testid="answer-handled"]')!;
    expect(handled.textContent).toContain("Handled failure: greeter.fail raised ValueError: boom — an error plug took it");
    // Above the result, not instead of it.
    expect(handled.compareDocumentPosition(answer()!.querySelector('[data-testid="answer-result"]')!)).toBe(
      Node.DOCUMENT_POSITION_FOLLOWING,
    );
    click([...handled.querySelectorAll("button")].find((b) => b.textContent === "show traceback"));
    expect(handled.querySelector("pre.traceback")!.textContent).toContain('raise ValueError("boom")');
  });

  it("shows a failure's chain of calls, innermost first, above its traceback", async () => {
    vi.spyOn(api, "trace").mockResolvedValue(traceWith("succeeded"));
    vi.spyOn(api, "send").mockResolvedValue({
      id: "m1",
      error: {
        socket: "ratio", attempts: 1, error_type: "ZeroDivisionError", origin: "divide", traceback: "Traceback…",
        error: "ZeroDivisionError: division by zero (in divide(1, 0), called from ratio(1))",
        chain: [{ socket: "divide", call: "divide(1, 0)" }, { socket: "ratio", call: "ratio(1)" }],
      },
    });
    view = mount(<SocketTools socket={socket} />);
    send();
    await until(() => answer()?.dataset.outcome === "failed");
    const chain = answer()!.querySelector('[data-testid="error-chain"]')!;
    expect([...chain.querySelectorAll("li")].map((li) => li.textContent)).toEqual(["divide(1, 0)", "← called from ratio(1)"]);
    click([...answer()!.querySelectorAll("button")].find((b) => b.textContent === "show traceback"));
    expect(chain.compareDocumentPosition(answer()!.querySelector('[data-testid="answer-traceback"]')!)).toBe(
      Node.DOCUMENT_POSITION_FOLLOWING,
    );
  });

  it("stays a plain success when nothing failed on the way", async () => {
    const trace = vi.spyOn(api, "trace").mockResolvedValue(traceWith("succeeded"));
    view = mount(<SocketTools socket={socket} />);
    send();
    await until(() => trace.mock.calls.length >= 2);
    expect(answer()!.dataset.outcome).toBe("succeeded");
    expect(answer()!.querySelector('[data-testid="answer-handled"]')).toBeNull();
  });
});
