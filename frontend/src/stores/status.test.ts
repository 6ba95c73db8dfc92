import { afterEach, describe, expect, it, vi } from "vitest";
import { useStatus } from "./status";

describe("run status refresh", () => {
  afterEach(() => vi.unstubAllGlobals());

  it("never lets an older read overwrite a newer one", async () => {
    // The first read (sent at a save) answers last, without the commit the second read (sent when the processor
    // came up) has: the second's rows stay.
    const answers: ((r: Response) => void)[] = [];
    vi.stubGlobal("fetch", vi.fn(() => new Promise<Response>((resolve) => answers.push(resolve))));
    const row = (commit: string) => ({ id: "p1", name: "p", status: commit ? "running" : "stopped", requested_status: "running", status_message: "", commit });
    const first = useStatus.getState().refresh("f1");
    const second = useStatus.getState().refresh("f1");
    answers[1](new Response(JSON.stringify({ results: [row("abc123")] }), { status: 200 }));
    await second;
    answers[0](new Response(JSON.stringify({ results: [row("")] }), { status: 200 }));
    await first;
    expect(useStatus.getState().byId.p1.commit).toBe("abc123");
  });
});

describe("where replicas run", () => {
  afterEach(() => vi.unstubAllGlobals());
  const replica = (node: string) => ({
    replica: 1, node, cpus: 1, status: "running", status_message: "", worker: "", moving_to: null,
  });

  it("keeps a processor's placement through live status frames, and takes a new one from a read", async () => {
    useStatus.getState().set([
      { id: "p1", name: "p", status: "running", requested_status: "running", status_message: "on n1", commit: "abc", placement: [replica("n1")] },
    ]);
    // A live frame carries status only: the placement read before stays.
    useStatus.getState().applyStates([{ id: "p1", status: "running", requested_status: "running", status_message: "moving to n2" }]);
    expect(useStatus.getState().byId.p1.placement?.map((r) => r.node)).toEqual(["n1"]);
    // A read with the same status and message but the replica moved is a change.
    const moved = { id: "p1", name: "p", status: "running", requested_status: "running", status_message: "moving to n2", commit: "abc", placement: [replica("n2")] };
    vi.stubGlobal("fetch", vi.fn(async () => new Response(JSON.stringify({ results: [moved] }), { status: 200 })));
    await useStatus.getState().refresh("f1");
    expect(useStatus.getState().byId.p1.placement?.map((r) => r.node)).toEqual(["n2"]);
  });
});
