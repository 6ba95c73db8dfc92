import { describe, expect, it } from "vitest";
import type { GraphDoc } from "../api/types";
import {
  connectionProblem,
  copySelection,
  freeGridSlots,
  inHandle,
  loopPlugs,
  loopThrough,
  markLoops,
  newSocket,
  outHandle,
  pasteClipboard,
  plugEdge,
  plugFromConnection,
  socketOwners,
  searchNodes,
  toCanvas,
  toDocument,
  uniqueName,
} from "./model";

export function sampleDoc(): GraphDoc {
  const proc = (id: string, name: string, sockets: [string, string][], position: { x: number; y: number } | null) => ({
    id,
    name,
    git_url: "file:///repo",
    ref: "main",
    commit: "abc",
    module: "sample.processors",
    subdirectory: "",
    requirements: "",
    concurrency: 1,
    replicas: 1,
    replicas_max: 0,
    node: "",
    scheduler: "",
    retries: 3,
    time_limit: 300,
    rate_limit: "",
    requested_status: "stopped",
    status: "stopped",
    status_message: "",
    position,
    sockets: sockets.map(([sid, fn]) => ({ id: sid, name: `${name}.${fn}`, function: fn, queue: `q.${sid}`, arguments: [], schedule: null, max_queue_length: null })),
  });
  return {
    id: "f1",
    name: "demo",
    description: "",
    version: 3,
    layout: { processors: { p1: { x: 1, y: 2 } }, zoom: 1 },
    processors: [
      proc("p1", "first", [["s1", "do_something"]], { x: 10, y: 20 }),
      proc("p2", "second", [["s2", "do_this"], ["s3", "report"]], null),
    ],
    plugs: [{ id: "g1", name: "first.do_something-to-second.do_this", source: "s1", target: "s2", kind: "result", argument: "" }],
    rights: { change: true, delete: true, reason: "" },
  };
}

describe("toCanvas / toDocument", () => {
  it("makes a node per processor and an edge per plug between socket handles", () => {
    const { nodes, edges } = toCanvas(sampleDoc());
    expect(nodes.map((n) => n.id)).toEqual(["p1", "p2"]);
    expect(nodes[0].position).toEqual({ x: 10, y: 20 });
    expect(nodes[1].position).toEqual({ x: 320, y: 0 }); // no saved position: a grid slot
    expect(edges).toHaveLength(1);
    expect(edges[0]).toMatchObject({ source: "p1", target: "p2", sourceHandle: "result:s1", targetHandle: "in:s2" });
  });

  it("round-trips into the PUT document with positions, sockets and plugs, and without run state", () => {
    const doc = sampleDoc();
    const { nodes, edges } = toCanvas(doc);
    nodes[1].position = { x: 100.6, y: 50.2 };
    const out = toDocument(doc, nodes, edges) as Record<string, any>;
    expect(out.version).toBe(3);
    expect(out.layout).toEqual({ zoom: 1 });
    expect(out.processors[1].position).toEqual({ x: 101, y: 50 });
    expect(out.processors[0]).not.toHaveProperty("status");
    expect(out.processors[0]).not.toHaveProperty("commit");
    expect(out.processors[0].sockets[0]).toEqual({
      id: "s1", name: "first.do_something", function: "do_something", pure: false, memo_ttl: null,
    });
    expect(out.plugs).toEqual([{ id: "g1", name: "first.do_something-to-second.do_this", source: "s1", target: "s2", kind: "result", argument: "" }]);
  });

  it("keeps a named shared queue but leaves automatic ones to the server", () => {
    const doc = sampleDoc();
    doc.processors[0].sockets[0].queue = "shared";
    const out = toDocument(doc, ...Object.values(toCanvas(doc)) as [any, any]) as Record<string, any>;
    expect(out.processors[0].sockets[0].queue).toBe("shared");
    expect(out.processors[1].sockets[0]).not.toHaveProperty("queue");
  });
});

describe("memoization fields of a socket", () => {
  it("round-trip from the graph document through the canvas into the PUT", () => {
    const doc = sampleDoc();
    Object.assign(doc.processors[1].sockets[0], { pure: true, memo_ttl: 600, max_queue_length: 50 });
    Object.assign(doc.processors[1].sockets[1], { pure: false, memo_ttl: null });
    const { nodes, edges } = toCanvas(doc);
    expect(nodes[1].data.processor.sockets.map((s) => [s.pure, s.memo_ttl])).toEqual([[true, 600], [false, null]]);
    const out = toDocument(doc, nodes, edges) as Record<string, any>;
    expect(out.processors[1].sockets[0]).toMatchObject({ id: "s2", pure: true, memo_ttl: 600, max_queue_length: 50 });
    expect(out.processors[1].sockets[1]).toMatchObject({ id: "s3", pure: false, memo_ttl: null });
    // What the server answers with is loaded again unchanged.
    const again = toCanvas({ ...doc, processors: doc.processors.map((p, i) => ({ ...p, sockets: out.processors[i].sockets })) });
    expect(again.nodes[1].data.processor.sockets.map((s) => [s.pure, s.memo_ttl])).toEqual([[true, 600], [false, null]]);
  });

  it("load from a document made before them as not pure, with the default memo time", () => {
    const doc = sampleDoc();
    expect(doc.processors[0].sockets[0]).not.toHaveProperty("pure");
    const { nodes, edges } = toCanvas(doc);
    expect(nodes[0].data.processor.sockets[0]).toMatchObject({ pure: false, memo_ttl: null });
    const out = toDocument(doc, nodes, edges) as Record<string, any>;
    expect(out.processors[0].sockets[0]).toMatchObject({ pure: false, memo_ttl: null });
  });

  it("are off in a new socket, and kept by a pasted copy", () => {
    expect(newSocket("first.other", "other")).toMatchObject({ name: "first.other", function: "other", pure: false, memo_ttl: null });
    const doc = sampleDoc();
    Object.assign(doc.processors[0].sockets[0], { pure: true, memo_ttl: 60 });
    const { nodes, edges } = toCanvas(doc);
    nodes[0].selected = true;
    const pasted = pasteClipboard(copySelection(nodes, edges)!, nodes, edges);
    expect(pasted.nodes[0].data.processor.sockets[0]).toMatchObject({ pure: true, memo_ttl: 60 });
  });
});

describe("connectionProblem", () => {
  const { nodes, edges } = toCanvas(sampleDoc());
  const conn = (sourceHandle: string, targetHandle: string) => ({ source: "p1", target: "p2", sourceHandle, targetHandle });

  it("accepts an output to an input", () => {
    expect(connectionProblem(conn(outHandle("error", "s1"), inHandle("s2")), nodes, edges, false)).toBeNull();
    expect(connectionProblem(conn(outHandle("result", "s1"), inHandle("s3")), nodes, edges, false)).toBeNull();
  });

  it("refuses with a reason", () => {
    expect(connectionProblem(conn(outHandle("result", "s1"), inHandle("s2")), nodes, edges, false)).toMatch(/already have a result plug/);
    expect(connectionProblem(conn(inHandle("s1"), inHandle("s2")), nodes, edges, false)).toMatch(/Drag from a result/);
    expect(connectionProblem(conn(outHandle("result", "s1"), outHandle("result", "s2")), nodes, edges, false)).toMatch(/input/);
    expect(connectionProblem(conn(outHandle("result", "s1"), inHandle("gone")), nodes, edges, false)).toMatch(/no socket/);
    expect(connectionProblem(conn(outHandle("error", "s1"), inHandle("s2")), nodes, edges, true)).toMatch(/view-only/);
  });

  it("names a new plug after its sockets, uniquely", () => {
    const plug = plugFromConnection(conn(outHandle("error", "s1"), inHandle("s2")), nodes, edges);
    expect(plug).toMatchObject({ source: "s1", target: "s2", kind: "error", name: "first.do_something-error-to-second.do_this" });
  });
});

describe("copy and paste", () => {
  it("copies selected processors with the plugs among them, under new ids and free names", () => {
    const { nodes, edges } = toCanvas(sampleDoc());
    nodes.forEach((n) => (n.selected = true));
    const clip = copySelection(nodes, edges)!;
    const pasted = pasteClipboard(clip, nodes, edges);
    expect(pasted.nodes.map((n) => n.data.processor.name)).toEqual(["first-2", "second-2"]);
    expect(pasted.nodes[0].data.processor.sockets[0].name).toBe("first-2.do_something");
    expect(pasted.nodes[0].id).not.toBe("p1");
    expect(pasted.nodes[0].data.processor.id).toBe(pasted.nodes[0].id);
    const [edge] = pasted.edges;
    expect(edge.source).toBe(pasted.nodes[0].id);
    expect(edge.data!.plug.source).toBe(pasted.nodes[0].data.processor.sockets[0].id);
    expect(edge.data!.plug.target).toBe(pasted.nodes[1].data.processor.sockets[0].id);
    expect(edge.sourceHandle).toBe(`result:${edge.data!.plug.source}`);
    // Read out by the copies' names, not the originals'.
    expect(edge.ariaLabel).toBe(`result plug ${edge.data!.plug.name}: first-2.do_something → second-2.do_this`);
  });

  it("leaves plugs to processors outside the selection behind", () => {
    const { nodes, edges } = toCanvas(sampleDoc());
    nodes[0].selected = true;
    expect(copySelection(nodes, edges)!.edges).toEqual([]);
    expect(copySelection(nodes.map((n) => ({ ...n, selected: false })), edges)).toBeNull();
  });
});

describe("names and search", () => {
  it("makes names valid and free", () => {
    expect(uniqueName("my proc", new Set())).toBe("my_proc");
    expect(uniqueName("a", new Set(["a", "a-2"]))).toBe("a-3");
  });

  it("finds processors by name, module, socket or function", () => {
    const { nodes } = toCanvas(sampleDoc());
    expect(searchNodes(nodes, "SECOND")).toEqual(["p2"]);
    expect(searchNodes(nodes, "report")).toEqual(["p2"]);
    expect(searchNodes(nodes, "sample")).toEqual(["p1", "p2"]);
    expect(searchNodes(nodes, "  ")).toEqual([]);
  });
});

describe("draw-time rules and loops", () => {
  const conn = (sourceHandle: string, targetHandle: string) => ({ source: "", target: "", sourceHandle, targetHandle });

  it("refuses a plug from a socket to itself, naming it", () => {
    const { nodes, edges } = toCanvas(sampleDoc());
    expect(connectionProblem(conn(outHandle("result", "s2"), inHandle("s2")), nodes, edges, false)).toMatch(
      /from second\.do_this to second\.do_this itself/,
    );
  });

  it("names both sockets when a plug is already there", () => {
    const { nodes, edges } = toCanvas(sampleDoc());
    expect(connectionProblem(conn(outHandle("result", "s1"), inHandle("s2")), nodes, edges, false)).toMatch(
      /^first\.do_something → second\.do_this: .*already have a result plug/,
    );
  });

  it("allows a plug between two sockets of one processor", () => {
    const { nodes, edges } = toCanvas(sampleDoc());
    expect(connectionProblem(conn(outHandle("result", "s2"), inHandle("s3")), nodes, edges, false)).toBeNull();
  });

  it("finds the plugs on a loop, and the loop a new plug closes", () => {
    const { nodes, edges } = toCanvas(sampleDoc());
    const back = plugFromConnection(conn(outHandle("result", "s2"), inHandle("s1")), nodes, edges);
    const side = plugFromConnection(conn(outHandle("error", "s2"), inHandle("s3")), nodes, edges);
    const all = [...edges, plugEdge(back, socketOwners(nodes))!, plugEdge(side, socketOwners(nodes))!];
    expect(loopPlugs(all)).toEqual(new Set(["g1", back.id]));
    expect(loopThrough(back, all, nodes)).toEqual(["second.do_this", "first.do_something", "second.do_this"]);
    expect(loopThrough(side, all, nodes)).toBeNull();
    const marked = markLoops(all);
    expect(marked.map((e) => Boolean(e.data?.loop))).toEqual([true, true, false]);
    expect(marked[0].className).toContain("plug-loop");
    expect(marked[2]).toBe(all[2]); // unchanged edges keep their identity
  });

  it("finds loops along long chains without deep recursion", () => {
    const chain = Array.from({ length: 20000 }, (_, i) => ({
      id: `e${i}`,
      source: "p",
      target: "p",
      data: { plug: { id: `e${i}`, name: `e${i}`, source: `s${i}`, target: `s${(i + 1) % 20000}`, kind: "result" as const, argument: "" } },
    }));
    expect(loopPlugs(chain).size).toBe(20000);
  });
});

describe("placing processors without a saved position", () => {
  it("puts them in grid slots no placed card covers", () => {
    const doc = sampleDoc();
    doc.processors[0].position = { x: 320, y: 0 }; // where the second one's grid slot would be
    doc.processors[1].position = null;
    const { nodes } = toCanvas(doc);
    expect(nodes[1].position).toEqual({ x: 0, y: 0 });
    const slots = freeGridSlots([{ x: 0, y: 0, sockets: 1 }, { x: 0, y: 200, sockets: 1 }], 2);
    expect(slots).toEqual([{ x: 320, y: 0 }, { x: 640, y: 0 }]);
  });
});

describe("pasting", () => {
  it("lands where the copies cover no card", () => {
    const { nodes, edges } = toCanvas(sampleDoc());
    const clip = copySelection(nodes.map((n) => ({ ...n, selected: true })), edges)!;
    const pasted = pasteClipboard(clip, nodes, edges);
    const box = (n: (typeof nodes)[number]) => ({ x: n.position.x, y: n.position.y, w: 240, h: 64 + 28 * n.data.processor.sockets.length });
    for (const copy of pasted.nodes.map(box))
      for (const card of nodes.map(box))
        expect(copy.x < card.x + card.w && card.x < copy.x + copy.w && copy.y < card.y + card.h && card.y < copy.y + copy.h).toBe(false);
  });
});
