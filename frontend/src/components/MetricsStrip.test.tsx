// The overlay renders on its own: a metrics update re-renders the strip of that processor, not its parent (the
// node, and through it the graph), and not the strip of another processor.
import { act, Profiler, type ReactNode } from "react";
import { createRoot, type Root } from "react-dom/client";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { WINDOW } from "../metrics/window";
import { resetMetrics, useMetrics } from "../stores/metrics";
import { HeldBadge, MetricsStrip } from "./MetricsStrip";

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

let host: HTMLDivElement;
let root: Root;
const renders: Record<string, number> = {};

function Counted({ name, children }: { name: string; children: ReactNode }) {
  return (
    <Profiler id={name} onRender={() => (renders[name] = (renders[name] ?? 0) + 1)}>
      {children}
    </Profiler>
  );
}

const view = (n: number, extra = {}) => ({ t: 10, in: n, out: n, errors: 0, p95: 1.5, spark: new Array(WINDOW).fill(n), held: false, ...extra });

beforeEach(() => {
  resetMetrics("f1");
  for (const key of Object.keys(renders)) delete renders[key];
  host = document.createElement("div");
  document.body.append(host);
  root = createRoot(host);
});

afterEach(() => {
  act(() => root.unmount());
  host.remove();
});

describe("metrics strip", () => {
  it("shows zeros before anything is counted", () => {
    act(() => root.render(<MetricsStrip id="p1" />));
    expect(host.querySelector('[data-testid="rate-in-p1"]')!.textContent).toBe("0");
    expect(host.querySelector('[data-testid="p95-p1"]')!.textContent).toBe("–");
  });

  it("re-renders only the strip of the processor whose numbers changed", () => {
    // Stands for ProcessorNode: it reads no metrics itself, so it must never render again on an update.
    function Node({ id }: { id: string }) {
      renders[`node-${id}`] = (renders[`node-${id}`] ?? 0) + 1;
      return (
        <div>
          <HeldBadge id={id} />
          <Counted name={`strip-${id}`}>
            <MetricsStrip id={id} />
          </Counted>
        </div>
      );
    }
    act(() => useMetrics.setState({ processors: { p1: view(1), p2: view(2) } }));
    act(() =>
      root.render(
        <>
          <Node id="p1" />
          <Node id="p2" />
        </>,
      ),
    );
    const before = { ...renders };
    const p2 = useMetrics.getState().processors.p2;
    act(() => useMetrics.setState({ processors: { p1: view(7, { errors: 3, held: true }), p2 } }));
    expect(host.querySelector('[data-testid="rate-in-p1"]')!.textContent).toBe("7");
    expect(host.querySelector('[data-testid="errors-p1"]')!.parentElement!.className).toBe("metric-bad");
    expect(host.querySelector('[data-testid="held-p1"]')).not.toBeNull();
    expect(host.querySelector('[data-testid="held-p2"]')).toBeNull();
    expect(renders["strip-p1"]).toBe(before["strip-p1"] + 1);
    expect(renders["strip-p2"]).toBe(before["strip-p2"]);
    expect(renders["node-p1"]).toBe(before["node-p1"]);
    expect(renders["node-p2"]).toBe(before["node-p2"]);
  });
});
