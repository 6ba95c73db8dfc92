import { describe, expect, it } from "vitest";
import type { CallNode } from "../api/types";
import { MSG } from "../messages";
import { callStatus, chainLines, handledFailures, runTime } from "./runs";

const call = (id: string, status: string, children: CallNode[] = []) =>
  ({ id, status, socket_name: `s.${id}`, error: "", traceback: "", children }) as unknown as CallNode;

describe("how runs and calls read", () => {
  it("calls a dead-lettered call failed, as the Runs list does, and a failure an error plug took handled", () => {
    expect(callStatus("dead").label).toBe("failed (dead-lettered)");
    expect(callStatus("failed").label).toBe("failed (handled)");
    expect(callStatus("succeeded").label).toBe("succeeded");
    expect(callStatus("cached")).toEqual({ label: "cached", title: expect.stringMatching(/memo: the function did not run/) });
  });

  it("does not call a failed call from a function handled: its error was raised in its caller", () => {
    // Found by a newcomer: the divide whose error failed ratio read "failed (handled)".
    const raised = callStatus("raised", "dead");
    expect(raised.label).toBe("failed (raised in caller)");
    expect(callStatus("raised", "succeeded").label).toBe("failed (caught by caller)");
    expect(callStatus("raised", "running").label).toBe("failed (raised in caller)"); // the caller has not decided yet
    expect(raised.title).toMatch(/CallFailed/);
    expect(handledFailures({ trace_id: "t", calls: 2, roots: [call("r", "dead", [call("d", "raised")])] })).toEqual([]);
    // A caller that caught it and went on handled it, as the Runs list counts it.
    const caught = call("d", "raised");
    expect(handledFailures({ trace_id: "t", calls: 2, roots: [call("r", "succeeded", [caught])] })).toEqual([caught]);
    expect(MSG.handledFailure("divide", "ZeroDivisionError: division by zero", true)).toBe(
      "Handled failure: divide raised ZeroDivisionError: division by zero — the function that called it caught it",
    );
  });

  it("reads an error's chain of calls innermost first, a link without its call by its socket", () => {
    expect(chainLines([{ socket: "divide", call: "divide(1, 0)" }, { socket: "ratio", call: "ratio(1)" }, { socket: "report", call: "" }]))
      .toEqual(["divide(1, 0)", "← called from ratio(1)", "← called from report"]);
    expect(chainLines(undefined)).toEqual([]);
    expect(chainLines([])).toEqual([]);
  });

  it("says how long a running run has been running, never what it took", () => {
    const started = "2026-11-30T10:00:00Z";
    const now = Date.parse(started) + 2500;
    expect(runTime({ status: "running", started_at: started, duration_ms: 1000 }, now)).toBe("running for 2.5 s");
    expect(runTime({ status: "running", started_at: null, duration_ms: 1000 }, now)).toBe("running");
    // Our clock behind the server's: no negative time.
    expect(runTime({ status: "running", started_at: started, duration_ms: null }, now - 5000)).toBe("running");
    expect(runTime({ status: "succeeded", started_at: started, duration_ms: 1000 }, now)).toBe("took 1.0 s");
    expect(runTime({ status: "handled", started_at: started, duration_ms: 80 }, now)).toBe("took 80 ms");
  });

  it("finds the failures an error plug took anywhere in a trace", () => {
    const tree = {
      trace_id: "t",
      calls: 4,
      roots: [call("a", "succeeded", [call("b", "failed", [call("c", "succeeded")]), call("d", "dead")])],
    };
    expect(handledFailures(tree).map((c) => c.id)).toEqual(["b"]);
  });
});
