// The flow's latest runs (one per message sent in), from lineage, as n8n's executions list: status, entry socket,
// start and duration; filter by status; open one as its trace. Read from the server, so it survives a reload, and
// refreshed every few seconds while open.
import { useEffect, useState } from "react";
import { api } from "../api/client";
import { notifyError, notifyInfo } from "../stores/toasts";
import { RUN_FILTERS, runTime, type Run } from "./runs";
import { TraceView } from "./TraceView";

/** The message a run began with, if it was kept whole (a cut preview cannot be sent again). */
function sentIn(run: Run): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(run.input) };
  } catch {
    return { ok: false };
  }
}

/** Send the run's message in again; true once it is sent. Said at once, as the new run shows a few seconds later. */
async function replay(run: Run): Promise<boolean> {
  const message = sentIn(run);
  if (!run.socket || !message.ok) return false;
  notifyInfo(`Replaying the run's message to ${run.socket_name}…`);
  try {
    const { id } = await api.send(run.socket, message.value);
    notifyInfo(`Sent the run's message to ${run.socket_name} again (message ${id.slice(0, 8)}); it shows here as a new run.`);
    return true;
  } catch (error) {
    notifyError(error);
    return false;
  }
}

const REFRESH_MS = 3000;
// Lineage is written about a second after a call: the replayed run is looked for then, not at the next refresh.
const LINEAGE_MS = 1200;

function when(iso: string | null): string {
  return iso ? new Date(iso).toLocaleTimeString() : "–";
}

export function RunsPanel({ flowId, onClose }: { flowId: string; onClose: () => void }) {
  const [filter, setFilter] = useState<(typeof RUN_FILTERS)[number]>("all");
  const [runs, setRuns] = useState<Run[] | null>(null);
  const [error, setError] = useState("");
  const [open, setOpen] = useState<string | null>(null);
  const [reloads, setReloads] = useState(0);

  useEffect(() => {
    let stopped = false;
    const load = async () => {
      try {
        const answer = await api.runs(flowId, filter === "all" ? undefined : filter);
        if (!stopped) {
          setRuns(answer.runs as Run[]);
          setError("");
        }
      } catch (e) {
        if (!stopped) setError((e as Error).message);
      }
    };
    void load();
    const timer = setInterval(() => void load(), REFRESH_MS);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, [flowId, filter, reloads]);

  return (
    <aside className="panel" aria-label="Runs" data-testid="runs-panel">
      <header className="panel-head">
        <h2>Runs</h2>
        <button type="button" aria-label="Close runs" onClick={onClose}>
          ×
        </button>
      </header>
      <div className="button-row" role="group" aria-label="Filter runs by status">
        {RUN_FILTERS.map((f) => (
          <button key={f} type="button" className={f === filter ? "primary" : undefined} aria-pressed={f === filter}
            onClick={() => setFilter(f)}>
            {f}
          </button>
        ))}
      </div>
      {error && <div className="error-box">{error}</div>}
      {runs === null && !error && <p className="muted">Loading the runs…</p>}
      {runs?.length === 0 && (
        <p className="muted">
          No {filter === "all" ? "" : `${filter} `}runs yet. Send a message to a socket (click it on the canvas) and its run
          shows here about a second later.
        </p>
      )}
      {runs && runs.length > 0 && (
        <table className="runs">
          <thead>
            <tr>
              <th>status</th>
              <th>entry</th>
              <th>started</th>
              <th>time</th>
              <th>calls</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {runs.map((run) => (
              <tr key={run.trace_id} data-testid="run" data-status={run.status} onClick={() => setOpen(run.root_id)}
                title="Open this run's trace">
                <td>
                  <span className={`badge badge-run-${run.status}`}>{run.status}</span>
                </td>
                <td>{run.socket_name}</td>
                <td>{when(run.started_at)}</td>
                <td data-testid="run-time">{runTime(run)}</td>
                <td>
                  {run.calls}
                  {run.failed_calls > 0 && <span className="field-error"> ({run.failed_calls} failed)</span>}
                  {(run.handled_calls ?? 0) > 0 && (
                    <span className="run-handled" title="Calls that failed and whose error an error plug took, or the function that called them caught">
                      {" "}({run.handled_calls} handled)
                    </span>
                  )}
                </td>
                <td>
                  {run.status === "failed" && (
                    <button type="button" className="link" disabled={!run.socket || !sentIn(run).ok}
                      title={run.socket && sentIn(run).ok ? "Send the message this run began with to its entry socket again"
                        : "Its message was larger than the preview kept with lineage: replay it from the dead letters"}
                      onClick={(e) => {
                        e.stopPropagation();
                        void replay(run).then((sent) => sent && setTimeout(() => setReloads((n) => n + 1), LINEAGE_MS));
                      }}>
                      replay
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {open && <TraceView callId={open} onClose={() => setOpen(null)} />}
    </aside>
  );
}
