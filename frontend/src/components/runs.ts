// How runs and their calls read, the same in the Runs panel, a trace and a test message's answer: a message that
// failed for good is "failed" everywhere (a dead-lettered call), and an error an error plug took is "handled",
// neither a failure nor a plain success (flows/selectors/calls.py).
import type { CallNode, CallTree, ChainLink, RunRow } from "../api/types";

/** A row of GET /api/flows/{id}/runs/. */
export type Run = RunRow;

export const RUN_FILTERS = ["all", "failed", "handled", "running", "succeeded"] as const;

/** Whether a caller in this status went on after a call it made failed: it caught the CallFailed (finished without
 * failing itself). One rule for badges, handled failures and the Runs list (flows/selectors/calls.py). */
function wentOn(callerStatus: string | undefined): boolean {
  return callerStatus !== undefined && !["dead", "raised", "received", "running", "retrying"].includes(callerStatus);
}

/** A call's status as a badge says it, and what it means; `callerStatus`: its parent's, when it has one. */
export function callStatus(status: string, callerStatus?: string): { label: string; title: string } {
  switch (status) {
    case "dead":
      return { label: "failed (dead-lettered)", title: "Failed for good: the message is in the socket's dead letters." };
    case "failed":
      return { label: "failed (handled)", title: "Failed, and an error plug took its error on as a message." };
    case "raised":
      if (wentOn(callerStatus)) {
        return {
          label: "failed (caught by caller)",
          title: "Failed, and the function that called it caught the CallFailed and went on.",
        };
      }
      return {
        label: "failed (raised in caller)",
        title: "Failed, and its error was raised in the function that called it (CallFailed): the caller decides.",
      };
    case "cached":
      return { label: "cached", title: "A pure socket's result taken from its memo: the function did not run." };
    default:
      return { label: status, title: "" };
  }
}

function seconds(ms: number): string {
  return ms < 1000 ? `${ms.toFixed(0)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/** How long a run took, or while it runs how long it has been running (its duration so far is only up to the last
 * call that finished, found by a newcomer reading "took 1.0 s" on a run still going). */
export function runTime(run: Pick<Run, "status" | "started_at" | "duration_ms">, now = Date.now()): string {
  if (run.status === "running") {
    const since = run.started_at ? now - Date.parse(run.started_at) : NaN;
    return since >= 0 ? `running for ${seconds(since)}` : "running";
  }
  return run.duration_ms === null ? "–" : `took ${seconds(run.duration_ms)}`;
}

/** The calls of a trace that failed and whose error was handled, in tree order: an error plug took it (status
 * "failed"), or it was raised in a function that went on (status "raised" under a caller that did not fail with it:
 * the same rule as the Runs list's, flows/selectors/calls.py). */
export function handledFailures(tree: CallTree): CallNode[] {
  const found: CallNode[] = [];
  const walk = (calls: CallNode[], parent: CallNode | null) => {
    for (const call of calls) {
      if (call.status === "failed" || (call.status === "raised" && wentOn(parent?.status))) found.push(call);
      walk(call.children, call);
    }
  };
  walk(tree.roots, null);
  return found;
}

/** An error's chain of calls as read, innermost first: "divide(1, 0)", then "← called from ratio(1)" for each
 * caller (a link without its call text shows its socket). Empty without a chain. */
export function chainLines(chain: ChainLink[] | undefined | null): string[] {
  if (!Array.isArray(chain)) return [];
  return chain.map((link, i) => {
    const where = link.call || link.socket;
    return i === 0 ? where : `← called from ${where}`;
  });
}
