// What a person does with one socket of a saved flow: send a test message and see the answer and its trace,
// peek at the queue, list and replay dead letters, tap it to watch the messages arriving.
import { useEffect, useState } from "react";
import { api } from "../api/client";
import type { CallFailure, CallNode, DeadLetter, Peek, SendAnswer, SocketDoc } from "../api/types";
import { MSG } from "../messages";
import { useDesigner } from "../stores/designer";
import { notifyError, notifyInfo } from "../stores/toasts";
import { ErrorChain } from "./ErrorChain";
import { JsonTree } from "./JsonTree";
import { handledFailures } from "./runs";
import { TapButton } from "./TapPanel";
import { TraceView } from "./TraceView";

/** The answer's failure, whatever shape it came in (a failure document, or a bare string from an older server). */
export function failureOf(answer: SendAnswer | null): CallFailure | null {
  if (!answer?.error) return null;
  return typeof answer.error === "string" ? { error: answer.error } : answer.error;
}

/** Failed attempts of this flow's calls since `since` (ms), newest first, while a test message waits: the
 * processors' retries, which would otherwise be seconds of "Waiting…" with no sign of them. */
function useRetries(flowId: string | null, since: number | null): CallNode[] {
  const [retries, setRetries] = useState<CallNode[]>([]);
  useEffect(() => {
    setRetries([]);
    if (!flowId || since === null) return;
    let stopped = false;
    const poll = async () => {
      try {
        const page = await api.flowCalls(flowId, "retrying");
        // Lineage is written about a second after a call; the browser's clock may differ from the server's a bit.
        const recent = page.results.filter((c) => c.started_at && Date.parse(c.started_at) >= since - 2000);
        if (!stopped) setRetries(recent);
      } catch {
        // Only a hint: the answer itself says what happened.
      }
    };
    const timer = setInterval(() => void poll(), 1500);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, [flowId, since]);
  return retries;
}

// Lineage is written about a second after the calls: how long an answer's trace is looked for, and how often.
const HANDLED_WAIT_MS = 5000;
const HANDLED_POLL_MS = 700;

/** The calls of a message's trace that failed and whose error an error plug took, once its answer came back as a
 * success: such a message succeeded only because the plug took the error (found by a newcomer, who read a handled
 * failure as a plain success). */
function useHandledFailures(messageId: string | null): CallNode[] {
  const [found, setFound] = useState<CallNode[]>([]);
  useEffect(() => {
    setFound([]);
    if (!messageId) return;
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = Date.now() + HANDLED_WAIT_MS;
    const look = async () => {
      try {
        const failures = handledFailures(await api.trace(messageId));
        if (stopped) return;
        if (failures.length) {
          setFound(failures);
          return;
        }
      } catch {
        // Not written yet (404), or not readable now: only a hint, the answer itself stands.
      }
      if (!stopped && Date.now() < deadline) timer = setTimeout(() => void look(), HANDLED_POLL_MS);
    };
    void look();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [messageId]);
  return found;
}

function HandledFailure({ call }: { call: CallNode }) {
  const [open, setOpen] = useState(false);
  return (
    <div className="handled-failure" data-testid="answer-handled">
      <div className="failure-line">
        {MSG.handledFailure(call.socket_name, call.error, call.status === "raised")}
      </div>
      <ErrorChain chain={call.chain} />
      {call.traceback && (
        <>
          <button type="button" className="link" onClick={() => setOpen(!open)}>
            {open ? "hide traceback" : "show traceback"}
          </button>
          {open && <pre className="traceback">{call.traceback}</pre>}
        </>
      )}
    </div>
  );
}

function Failure({ failure }: { failure: CallFailure }) {
  const [open, setOpen] = useState(false);
  return (
    <div>
      <div className="failure-line" data-testid="answer-failure">
        Failed{failure.socket ? ` in ${failure.socket}` : ""}
        {failure.attempts ? ` after ${failure.attempts} attempt${failure.attempts === 1 ? "" : "s"}` : ""}: {failure.error}
      </div>
      <ErrorChain chain={failure.chain} />
      {failure.traceback && (
        <>
          <button type="button" className="link" onClick={() => setOpen(!open)}>
            {open ? "hide traceback" : "show traceback"}
          </button>
          {open && <pre className="traceback" data-testid="answer-traceback">{failure.traceback}</pre>}
        </>
      )}
    </div>
  );
}

function parseMessage(text: string): { ok: true; value: unknown } | { ok: false; error: string } {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (error) {
    return { ok: false, error: MSG.invalidJson((error as Error).message) };
  }
}

async function queueId(socket: SocketDoc): Promise<string> {
  const page = await api.queueByName(socket.queue ?? "");
  const row = page.results.find((q) => q.name === socket.queue);
  if (!row) throw new Error(`Queue ${socket.queue} is not visible to you, or the flow is not saved yet.`);
  return row.id;
}

// Who may send or replay is the server's to say (run_task); a refusal comes back as a readable error.
export function SocketTools({ socket }: { socket: SocketDoc }) {
  const [text, setText] = useState('"hello"');
  const [sending, setSending] = useState(false);
  const [answer, setAnswer] = useState<SendAnswer | null>(null);
  const [timedOut, setTimedOut] = useState(false);
  const [trace, setTrace] = useState<string | null>(null);
  const [peek, setPeek] = useState<Peek | null>(null);
  const [dead, setDead] = useState<DeadLetter[] | null>(null);
  const [qid, setQid] = useState<string | null>(null);
  const [sentAt, setSentAt] = useState<number | null>(null);
  const flowId = useDesigner((s) => s.flowId);
  const retries = useRetries(flowId, sending ? sentAt : null);
  const parsed = parseMessage(text);

  async function send() {
    if (!parsed.ok) return;
    setSending(true);
    setSentAt(Date.now());
    setAnswer(null);
    setTimedOut(false);
    try {
      setAnswer(await api.send(socket.id, parsed.value, 20));
    } catch (error) {
      const e = error as Error & { status?: number; extra?: Record<string, unknown> };
      if (e.status === 504 && e.extra) {
        setTimedOut(true);
      }
      notifyError(error);
    } finally {
      setSending(false);
    }
  }

  async function withQueue<T>(fn: (id: string) => Promise<T>): Promise<T | undefined> {
    try {
      const id = qid ?? (await queueId(socket));
      setQid(id);
      return await fn(id);
    } catch (error) {
      notifyError(error);
      return undefined;
    }
  }

  const failure = failureOf(answer);
  const handled = useHandledFailures(answer && !failure ? answer.id : null);
  const outcome = failure ? "failed" : handled.length ? "handled" : "succeeded";

  return (
    <div className="socket-tools" data-testid={`tools-${socket.name}`}>
      <label>
        Test message (JSON)
        <textarea
          aria-label={`Message for ${socket.name}`}
          rows={2}
          value={text}
          onChange={(e) => setText(e.target.value)}
        />
      </label>
      {!parsed.ok && <div className="field-error">{parsed.error}</div>}
      <div className="button-row">
        <button type="button" disabled={!parsed.ok || sending} onClick={() => void send()}
          title="Send and wait up to 20 s for the answer">
          {sending ? "Waiting…" : "Send"}
        </button>
        <button type="button" onClick={() => void withQueue(async (id) => setPeek(await api.peek(id)))}>
          Peek queue
        </button>
        <button type="button" onClick={() => void withQueue(async (id) => setDead((await api.deadLetters(id)).results))}>
          Dead letters
        </button>
        <TapButton kind="socket" target={socket.id} name={socket.name} />
      </div>
      {sending && retries.length > 0 && (
        <div className="retry-line" data-testid="answer-retrying">
          {retries[0].socket_name} attempt {retries[0].attempt} failed ({retries[0].error}); retrying with the
          processor's retries…
        </div>
      )}
      {timedOut && <div className="muted">No answer within 20 s; the message is still queued or running.</div>}
      {answer && (
        <div className={`answer answer-${outcome === "succeeded" ? "ok" : outcome}`} data-testid="answer"
          data-outcome={outcome}>
          {failure ? (
            <Failure failure={failure} />
          ) : (
            <div>
              {handled.map((call) => (
                <HandledFailure key={call.id} call={call} />
              ))}
              {answer.results?.length === 0 ? (
                <span className="muted">Succeeded; no sink result (the flow's last sockets returned nothing).</span>
              ) : (
                <>
                  Result
                  {/* The raw JSON, for tests and copying; the tree, for reading. */}
                  <code data-testid="answer-result" hidden>{JSON.stringify(answer.results)}</code>
                  <JsonTree value={answer.results} testId="answer-tree" />
                </>
              )}
            </div>
          )}
          <button type="button" className="link" onClick={() => setTrace(answer.id)}>
            Open trace
          </button>
        </div>
      )}
      {peek && (
        <div className="peek" data-testid="peek">
          <header>
            Queue {socket.queue}: {peek.depth} waiting
            <button type="button" className="link" onClick={() => setPeek(null)}>hide</button>
          </header>
          {peek.messages.length === 0 ? (
            <p className="muted">The queue is empty.</p>
          ) : (
            <ol>
              {peek.messages.map((m, i) => (
                <li key={i}>
                  <code>{JSON.stringify((m as { payload?: unknown }).payload ?? m).slice(0, 200)}</code>
                </li>
              ))}
            </ol>
          )}
        </div>
      )}
      {dead && (
        <div className="dead-letters" data-testid="dead-letters">
          <header>
            {dead.length} dead letter{dead.length === 1 ? "" : "s"}
            {dead.length > 0 && (
              <button type="button" onClick={() => void withQueue(async (id) => {
                const { replayed } = await api.replay(id);
                notifyInfo(`Replayed ${replayed.length} message(s).`);
                setDead((await api.deadLetters(id)).results);
              })}>
                Replay all
              </button>
            )}
            <button type="button" className="link" onClick={() => setDead(null)}>hide</button>
          </header>
          <ol>
            {dead.map((entry) => (
              <li key={entry.envelope.id}>
                <code>{JSON.stringify(entry.envelope.payload ?? null).slice(0, 120)}</code>{" "}
                <span className="field-error">{String(entry.error ?? "")}</span>{" "}
                <ErrorChain chain={entry.chain} />
                <button type="button" className="link" onClick={() => void withQueue(async (id) => {
                  await api.replay(id, [entry.envelope.id]);
                  notifyInfo("Replayed 1 message.");
                  setDead((await api.deadLetters(id)).results);
                })}>
                  replay
                </button>
              </li>
            ))}
          </ol>
        </div>
      )}
      {trace && <TraceView callId={trace} onClose={() => setTrace(null)} />}
    </div>
  );
}
