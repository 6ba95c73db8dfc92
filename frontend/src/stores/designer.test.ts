import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { inHandle, outHandle } from "../graph/model";
import { sampleDoc } from "../graph/model.test";
import { selectDirty, useDesigner } from "./designer";

const s = () => useDesigner.getState();

beforeEach(() => {
  useDesigner.setState({ flowId: "f1", remote: null });
  s().adopt(sampleDoc());
});

afterEach(() => vi.unstubAllGlobals());

describe("designer store", () => {
  it("starts clean and becomes dirty with an edit", () => {
    expect(selectDirty(s())).toBe(false);
    s().updateProcessor("p1", { concurrency: 4 });
    expect(selectDirty(s())).toBe(true);
    expect(s().nodes[0].data.processor.concurrency).toBe(4);
  });

  it("undoes and redoes edits back to a clean state", () => {
    s().updateProcessor("p1", { name: "renamed" });
    s().connect({ source: "p1", target: "p2", sourceHandle: outHandle("error", "s1"), targetHandle: inHandle("s3") });
    expect(s().edges).toHaveLength(2);
    s().undo();
    expect(s().edges).toHaveLength(1);
    s().undo();
    expect(s().nodes[0].data.processor.name).toBe("first");
    expect(selectDirty(s())).toBe(false);
    s().redo();
    expect(s().nodes[0].data.processor.name).toBe("renamed");
    expect(selectDirty(s())).toBe(true);
  });

  it("refuses a bad connection with its reason and changes nothing", () => {
    const problem = s().connect({ source: "p1", target: "p2", sourceHandle: outHandle("result", "s1"), targetHandle: inHandle("s2") });
    expect(problem).toMatch(/already/);
    expect(s().edges).toHaveLength(1);
    expect(selectDirty(s())).toBe(false);
  });

  it("deletes selected processors with their plugs in one undo step", () => {
    s().select(["p2"]);
    s().deleteSelected();
    expect(s().nodes.map((n) => n.id)).toEqual(["p1"]);
    expect(s().edges).toEqual([]);
    s().undo();
    expect(s().nodes).toHaveLength(2);
    expect(s().edges).toHaveLength(1);
  });

  it("drops plugs whose socket is removed", () => {
    s().setSockets("p2", s().nodes[1].data.processor.sockets.filter((x) => x.id !== "s2"));
    expect(s().edges).toEqual([]);
  });

  it("a drag is one undo step", () => {
    s().dragStart();
    s().onNodesChange([{ type: "position", id: "p1", position: { x: 50, y: 60 }, dragging: true }]);
    s().onNodesChange([{ type: "position", id: "p1", position: { x: 70, y: 80 }, dragging: true }]);
    s().dragStop();
    expect(selectDirty(s())).toBe(true);
    s().undo();
    expect(s().nodes[0].position).toEqual({ x: 10, y: 20 });
  });

  it("is read-only without the change right", () => {
    s().adopt({ ...sampleDoc(), rights: { change: false, delete: false, reason: "view only" } });
    s().updateProcessor("p1", { name: "x" });
    s().select(["p1"]);
    s().deleteSelected();
    expect(s().addProcessor({ x: 0, y: 0 })).toBeNull();
    expect(s().connect({ source: "p1", target: "p2", sourceHandle: outHandle("error", "s1"), targetHandle: inHandle("s3") })).toMatch(/view-only/);
    expect(s().nodes.map((n) => n.data.processor.name)).toEqual(["first", "second"]);
    expect(selectDirty(s())).toBe(false);
  });

  it("reports a save the server could not merge, in its words, and keeps the edits", async () => {
    s().updateProcessor("p1", { concurrency: 2 });
    const message = "The flow was changed by someone else (…), and you both changed processor first concurrency.";
    vi.stubGlobal("fetch", vi.fn(async () => new Response(JSON.stringify({ error: { code: "conflict", message, current_version: 5 } }), { status: 409 })));
    expect(await s().save()).toBe(false);
    expect(s().stale).toEqual({ mine: 3, theirs: 5, why: message });
    expect(s().saveError).toMatch(/you both changed processor first concurrency/);
    expect(selectDirty(s())).toBe(true);
    expect(s().nodes[0].data.processor.concurrency).toBe(2);
  });

  it("names you (in another tab) when your own other tab's save made this one stale", async () => {
    s().setOthers(["alice"], "alice");
    s().updateProcessor("p1", { concurrency: 2 });
    s().remoteSaved(5, "alice", "another-tab");
    const message = "The flow was changed by someone else (you edited version 3, it is now at version 5), and you both changed processor first concurrency.";
    vi.stubGlobal("fetch", vi.fn(async () => new Response(JSON.stringify({ error: { code: "conflict", message, current_version: 5 } }), { status: 409 })));
    expect(await s().save()).toBe(false);
    expect(s().stale?.why).toBe(
      "You (in another tab) changed the flow (you edited version 3, it is now at version 5), and you both changed processor first concurrency.",
    );
    expect(s().saveError).not.toMatch(/someone else/);
  });

  it("saves one PUT of the graph at its version and adopts the new version", async () => {
    s().updateProcessor("p1", { concurrency: 2 });
    const fetch = vi.fn(async (_url: string, init: RequestInit) => {
      if (init.method === "GET") return new Response(JSON.stringify({ results: [] }), { status: 200 }); // run states
      const body = JSON.parse(String(init.body));
      return new Response(JSON.stringify({ ...sampleDoc(), version: body.version + 1 }), { status: 200 });
    });
    vi.stubGlobal("fetch", fetch);
    expect(await s().save()).toBe(true);
    expect(fetch.mock.calls.filter((call) => call[1].method === "PUT")).toHaveLength(1);
    expect(fetch.mock.calls[0][0]).toBe("/api/flows/f1/graph/");
    expect(fetch.mock.calls[0][1].method).toBe("PUT");
    expect(s().base?.version).toBe(4);
    expect(selectDirty(s())).toBe(false);
  });

  it("asks before dropping sockets that still have messages, then saves with force", async () => {
    s().updateProcessor("p1", { concurrency: 2 });
    const waiting = { error: { code: "conflict", message: "Flow demo has 3 message(s) waiting: s3 (3 queued).", waiting: 3 } };
    const fetch = vi.fn(async (url: string, init: RequestInit) => {
      if (init.method === "GET") return new Response(JSON.stringify({ results: [] }), { status: 200 }); // run states
      if (!url.includes("force=true")) return new Response(JSON.stringify(waiting), { status: 409 });
      const body = JSON.parse(String(init.body));
      return new Response(JSON.stringify({ ...sampleDoc(), version: body.version + 1 }), { status: 200 });
    });
    const confirm = vi.fn((_message: string) => true);
    vi.stubGlobal("fetch", fetch);
    vi.stubGlobal("confirm", confirm);
    expect(await s().save()).toBe(true);
    expect(confirm.mock.calls[0][0]).toMatch(/3 message\(s\) waiting[\s\S]*dead-letter archive/);
    const puts = fetch.mock.calls.filter((call) => call[1].method === "PUT").map((call) => call[0]);
    expect(puts).toEqual(["/api/flows/f1/graph/", "/api/flows/f1/graph/?force=true"]);
    expect(selectDirty(s())).toBe(false);
  });

  it("keeps the edits unsaved when the user keeps the waiting messages", async () => {
    s().updateProcessor("p1", { concurrency: 2 });
    const waiting = { error: { code: "conflict", message: "Flow demo has 3 message(s) waiting.", waiting: 3 } };
    vi.stubGlobal("fetch", vi.fn(async () => new Response(JSON.stringify(waiting), { status: 409 })));
    vi.stubGlobal("confirm", vi.fn((_message: string) => false));
    expect(await s().save()).toBe(false);
    expect(s().saveError).toMatch(/3 message\(s\) waiting/);
    expect(s().stale).toBeNull();
    expect(selectDirty(s())).toBe(true);
  });

  it("pastes copies that do not clash and can be undone", () => {
    s().select(["p1"]);
    expect(s().copy()).toBe(1);
    const pasted = s().paste();
    expect(pasted).toHaveLength(1);
    expect(s().nodes.find((n) => n.id === pasted[0])?.data.processor.name).toBe("first-2");
    expect(s().nodes.map((n) => n.data.processor.name)).toEqual(["first", "second", "first-2"]);
    expect(s().nodes.filter((n) => n.selected).map((n) => n.data.processor.name)).toEqual(["first-2"]);
    s().undo();
    expect(s().nodes).toHaveLength(2);
  });
});

describe("history the canvas answers", () => {
  it("says when the step undone or redone was a layout, so the view is fitted again", () => {
    s().setPositions({ p1: { x: 500, y: 500 }, p2: { x: 900, y: 500 } });
    s().updateProcessor("p1", { concurrency: 2 });
    expect(s().undo()).toBeNull();
    expect(s().undo()).toBe("layout");
    expect(s().nodes[0].position).toEqual({ x: 10, y: 20 });
    expect(s().redo()).toBe("layout");
    expect(s().nodes[0].position).toEqual({ x: 500, y: 500 });
    expect(s().redo()).toBeNull();
  });
});

describe("a plug drawn on the canvas", () => {
  it("is named by its sockets for screen readers, as a saved one is", () => {
    s().connect({ source: "p1", target: "p2", sourceHandle: outHandle("error", "s1"), targetHandle: inHandle("s3") });
    expect(s().edges[1].ariaLabel).toBe("error plug first.do_something-error-to-second.report: first.do_something → second.report");
  });
});

describe("adding processors", () => {
  const item = { git_url: "file:///repo", ref: "main", subdirectory: "", module: "sample.processors", function: "square" };
  const socketOf = (id: string | null) => s().nodes.find((n) => n.id === id)!.data.processor.sockets[0].name;

  it("names a dragged function's socket by the function when the processor is named after it and the name is free", () => {
    const first = s().addFunction(item, { x: 1000, y: 0 });
    expect(socketOf(first)).toBe("square");
    // The processor name is taken now: square-2, whose socket keeps the processor's name before the function.
    expect(socketOf(s().addFunction(item, { x: 1000, y: 0 }))).toBe("square-2.square");
    // A processor called square again, but a socket already has the name: socket names are unique in a flow.
    s().updateProcessor(first!, { name: "renamed" });
    expect(socketOf(s().addFunction(item, { x: 1000, y: 0 }))).toBe("square.square");
  });

  it("gives a dragged function's socket no memoization until it is asked for", () => {
    const id = s().addFunction(item, { x: 1000, y: 0 });
    expect(s().nodes.find((n) => n.id === id)!.data.processor.sockets[0]).toMatchObject({ pure: false, memo_ttl: null });
  });

  it("places a new processor where it covers no other", () => {
    const first = s().addProcessor({ x: 1000, y: 1000 })!;
    const second = s().addProcessor({ x: 1000, y: 1000 })!;
    const [a, b] = [first, second].map((id) => s().nodes.find((n) => n.id === id)!.position);
    expect(a).toEqual({ x: 1000, y: 1000 });
    expect(b.x).toBe(1000);
    expect(b.y).toBeGreaterThanOrEqual(1100);
    expect(s().panel).toBe(second);
  });
});
