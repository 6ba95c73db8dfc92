// The last few failed calls of one processor as the live feed sampled them (workers send at most a few a second;
// the counts on the node are exact, this list is a sample to read).
import { useMemo } from "react";
import { useMetrics } from "../stores/metrics";

const SHOWN = 5;

export function RecentErrors({ processorId, socketNames }: { processorId: string; socketNames: Record<string, string> }) {
  const all = useMetrics((s) => s.errors);
  const errors = useMemo(() => all.filter((e) => e.processor_id === processorId).slice(0, SHOWN), [all, processorId]);
  if (!errors.length) return <p className="muted">No failed call since this page opened.</p>;
  return (
    <ul className="recent-errors" data-testid="recent-errors">
      {errors.map((e) => (
        <li key={`${e.message_id}:${e.at}`}>
          <span className="muted">{new Date(e.at * 1000).toLocaleTimeString()}</span>{" "}
          <code>{socketNames[e.socket_id] ?? e.socket_id.slice(0, 8)}</code>{" "}
          {/* The error already starts with its type ("ValueError: …"); only a bare message gets it added. */}
          {e.error.startsWith(`${e.error_type}:`) || !e.error_type ? (
            <span className="call-error">{e.error}</span>
          ) : (
            <><strong className="call-error">{e.error_type}</strong>: {e.error}</>
          )}
          <div className="muted">message {e.message_id} · trace {e.trace_id} · {e.worker}</div>
        </li>
      ))}
    </ul>
  );
}
