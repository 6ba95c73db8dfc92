// A message's trace: the tree of calls it caused. Lineage is written about a second after the calls, so the
// view waits for it instead of showing an empty tree.
import { useEffect, useRef, useState } from "react";
import { api, ApiError } from "../api/client";
import type { CallNode, CallTree } from "../api/types";
import { formatMs } from "../metrics/format";
import { ErrorChain } from "./ErrorChain";
import { JsonTree } from "./JsonTree";
import { callStatus } from "./runs";

/** Up to this many characters, a call's args read on one line as they were kept (args [0, 2, 5, 223] took six lines
 * as a tree, found by a newcomer). */
const INLINE_CHARS = 80;

/** A kept payload preview: a tree when it is whole JSON, else the text as cut (it ends with "…"); `inline`: on one
 * line when short. */
function Payload({ label, text, testId, inline = false }: { label: string; text: string; testId: string; inline?: boolean }) {
  let parsed: { ok: true; value: unknown } | { ok: false } = { ok: false };
  try {
    parsed = { ok: true, value: JSON.parse(text) };
  } catch {
    // cut at the preview size: shown as text
  }
  return (
    <div className="call-data" data-testid={testId}>
      <span className="muted">{label}</span>
      {parsed.ok && inline && text.length <= INLINE_CHARS ? (
        <code className="payload-inline">{text}</code>
      ) : parsed.ok ? (
        <JsonTree value={parsed.value} />
      ) : (
        <pre className="payload-cut">{text}</pre>
      )}
    </div>
  );
}

function CallItem({ call, callerStatus }: { call: CallNode; callerStatus?: string }) {
  const [open, setOpen] = useState(false);
  const [data, setData] = useState(call.status === "dead" || call.status === "failed");
  const hasData = Boolean(call.input || call.args || call.output);
  const status = callStatus(call.status, callerStatus);
  return (
    <li className={`call call-${call.status}`} data-testid="trace-call">
      <div className="call-line">
        <span className={`badge badge-call-${call.status}`} title={status.title} data-testid="call-status">
          {status.label}
        </span>
        <strong>{call.socket_name}</strong>
        {call.status === "cached" ? (
          <span className="muted" title={status.title} data-testid="call-time">memo hit</span>
        ) : call.duration_ms !== null && (
          <span className="muted" title="The function's own time, in the executor" data-testid="call-time">
            {formatMs(call.duration_ms)}
          </span>
        )}
        {call.attempt > 1 && <span className="muted">attempt {call.attempt}</span>}
        <span className="muted">{call.worker}</span>
        {hasData && (
          <button type="button" className="link" onClick={() => setData(!data)}>
            {data ? "hide data" : "show data"}
          </button>
        )}
        {call.traceback && (
          <button type="button" className="link" onClick={() => setOpen(!open)}>
            {open ? "hide traceback" : "show traceback"}
          </button>
        )}
      </div>
      {data && call.input && <Payload label="input" text={call.input} testId="call-input" />}
      {data && call.args && <Payload label="args" text={call.args} testId="call-args" inline />}
      {data && call.output && <Payload label="output" text={call.output} testId="call-output" />}
      {call.error && <div className="call-error">{call.error}</div>}
      <ErrorChain chain={call.chain} />
      {open && call.traceback && <pre className="traceback">{call.traceback}</pre>}
      {call.children.length > 0 && (
        <ul>
          {call.children.map((child) => (
            <CallItem key={child.id} call={child} callerStatus={call.status} />
          ))}
        </ul>
      )}
    </li>
  );
}

export function TraceView({ callId, onClose }: { callId: string; onClose: () => void }) {
  const [tree, setTree] = useState<CallTree | null>(null);
  const [error, setError] = useState("");
  const dialog = useRef<HTMLDivElement>(null);
  // Escape closes the trace whatever has focus (found by a newcomer: after a click in the Runs list it did not, and
  // the trace kept covering the list): caught on the way down, before any element can stop it, and not passed on
  // to the designer's own Escape (which would close the panel the trace was opened from as well).
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key !== "Escape") return;
      e.stopPropagation();
      onClose();
    };
    document.addEventListener("keydown", onKey, true);
    return () => document.removeEventListener("keydown", onKey, true);
  }, [onClose]);
  // The dialog takes focus as it opens, so keys go to it and not to the list or canvas behind it.
  useEffect(() => dialog.current?.focus(), []);
  useEffect(() => {
    let cancelled = false;
    const deadline = Date.now() + 15000;
    async function load() {
      try {
        const answer = await api.trace(callId);
        if (!cancelled) setTree(answer);
      } catch (e) {
        if (cancelled) return;
        if (e instanceof ApiError && e.status === 404 && Date.now() < deadline) {
          setTimeout(load, 500);
          return;
        }
        setError(
          e instanceof ApiError && e.status === 404
            ? "No calls recorded for this message yet. It may still be waiting in a queue: is its processor running?"
            : (e as Error).message,
        );
      }
    }
    void load();
    return () => {
      cancelled = true;
    };
  }, [callId]);
  return (
    <div className="modal" role="dialog" aria-modal="true" aria-label="Trace" tabIndex={-1} ref={dialog}
      onMouseDown={(e) => e.target === e.currentTarget && onClose()}>
      <div className="modal-body">
        <header>
          <h2>Trace {callId.slice(0, 8)}</h2>
          <button type="button" onClick={onClose} aria-label="Close trace">
            ×
          </button>
        </header>
        {error && <div className="error-box">{error}</div>}
        {!tree && !error && <p className="muted">Loading the trace…</p>}
        {tree && (
          <>
            <p className="muted">
              {tree.calls} call{tree.calls === 1 ? "" : "s"} in trace {tree.trace_id}
            </p>
            <ul className="trace-tree">
              {tree.roots.map((call) => (
                <CallItem key={call.id} call={call} />
              ))}
            </ul>
          </>
        )}
      </div>
    </div>
  );
}
