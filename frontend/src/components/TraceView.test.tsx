// The trace window closes on Escape whatever has focus, and takes focus as it opens.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { api } from "../api/client";
import type { CallTree } from "../api/types";
import { mount, until, type Mounted } from "./testing";
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

  it("says a dead-lettered call failed, as the Runs list does", async () => {
    view = mount(<TraceView callId="c1" onClose={() => {}} />);
    await until(() => view.host.querySelectorAll('[data-testid="call-status"]').length === 2);
    const labels = [...view.host.querySelectorAll('[data-testid="call-status"]')].map((b) => b.textContent);
    expect(labels).toEqual(["succeeded", "failed (dead-lettered)"]);
  });
});
