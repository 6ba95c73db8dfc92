import { describe, expect, it } from "vitest";
import type { GraphDoc } from "../api/types";
import { layout, NODE_WIDTH, nodeHeight } from "./layout";
import { toCanvas } from "./model";

/** A chain of `n` processors, one socket each, each plugged into the next. */
function chain(n: number): GraphDoc {
  return {
    id: "f",
    name: "chain",
    description: "",
    version: 1,
    layout: {},
    processors: Array.from({ length: n }, (_, i) => ({
      id: `p${i}`,
      name: `p${i}`,
      git_url: "file:///r",
      ref: "main",
      module: "m",
      subdirectory: "",
      requirements: "",
      concurrency: 1,
      replicas: 1,
      replicas_max: 0,
      node: "",
      scheduler: "",
      retries: 0,
      time_limit: 30,
      position: null,
      sockets: [{ id: `s${i}`, name: `p${i}.f`, function: "f" }],
    })),
    plugs: Array.from({ length: n - 1 }, (_, i) => ({
      id: `g${i}`,
      name: `g${i}`,
      source: `s${i}`,
      target: `s${i + 1}`,
      kind: "result" as const,
      argument: "",
    })),
    rights: { change: true, delete: true, reason: "" },
  };
}

describe("auto-layout", () => {
  it("lays a 60-processor chain out in rows near a screen's shape, no card on another", async () => {
    const { nodes, edges } = toCanvas(chain(60));
    const positions = await layout(nodes, edges);
    const boxes = nodes.map((n) => ({ ...positions[n.id], w: NODE_WIDTH, h: nodeHeight(n) }));
    const width = Math.max(...boxes.map((b) => b.x + b.w)) - Math.min(...boxes.map((b) => b.x));
    const height = Math.max(...boxes.map((b) => b.y + b.h)) - Math.min(...boxes.map((b) => b.y));
    expect(width / height).toBeLessThan(4); // not one long diagonal or one endless row
    expect(width / height).toBeGreaterThan(0.4);
    for (const [i, a] of boxes.entries())
      for (const b of boxes.slice(i + 1))
        expect(a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h).toBe(false);
  });
});
