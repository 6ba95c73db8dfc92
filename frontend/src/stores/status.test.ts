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
