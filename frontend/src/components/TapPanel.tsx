// The tap panel: the messages passing along a tapped plug (or arriving at a tapped socket) as they happen, newest
// first, with their payload previews; and the Tap button that opens one, beside a plug's or a socket's tools. The
// taps themselves live in stores/taps.ts, so they last while other panels open and close.
import { useEffect, useState } from "react";
import type { TapEvent, TapKind } from "../live/frames";
import { flowPath } from "../live/flow";
import { MSG } from "../messages";
import { useDesigner } from "../stores/designer";
import {
  RATE,
  SAMPLES,
  clearTap,
  closeTap,
  closeTaps,
  openTap,
  pauseTap,
  retap,
  showTap,
  useTaps,
  type Tap,
} from "../stores/taps";
import { notifyError } from "../stores/toasts";
import { TraceView } from "./TraceView";

/** hh:mm:ss.mmm of an epoch-seconds time, in local time. */
export function tapClock(at: number): string {
  const d = new Date(Math.round(at * 1000));
  const two = (n: number) => String(n).padStart(2, "0");
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, "0")}`;
}

const percent = (share: number) => `${Math.round(share * 100)} %`;

/** Tap (or untap) a plug or socket of the flow on the canvas. */
export function TapButton({ kind, target, name }: { kind: TapKind; target: string; name: string }) {
  const flowId = useDesigner((s) => s.flowId);
  const tapped = useTaps((s) => target in s.taps);
  if (!flowId) return null;
  return (
    <button type="button" aria-pressed={tapped} title={tapped ? MSG.tap.untapTitle : MSG.tap.title(kind)}
      onClick={() => (tapped ? closeTap(target) : openTap(flowPath(flowId), kind, target, name))}>
      {tapped ? "Untap" : "Tap"}
    </button>
  );
}

function EventItem({ event, onTrace }: { event: TapEvent; onTrace: (messageId: string) => void }) {
  const cut = event.payload.endsWith("…");
  return (
    <li className="tap-event" data-testid="tap-event">
      <div className="tap-event-line">
        <time className="tap-time" data-testid="tap-time">{tapClock(event.at)}</time>
        <span className="tap-route">{event.from ? `${event.from} → ${event.to}` : `→ ${event.to}`}</span>
        <button type="button" className="link tap-message" title={`Open the trace of message ${event.message_id}`}
          onClick={() => onTrace(event.message_id)}>
          {event.message_id.slice(0, 8)}
        </button>
        {event.attempt > 1 && <span className="muted" data-testid="tap-attempt">attempt {event.attempt}</span>}
      </div>
      <pre className="tap-payload" data-testid="tap-payload">{event.payload}</pre>
      {cut && <span className="muted tap-cut">{MSG.tap.cut}</span>}
    </li>
  );
}

function RateField({ tap }: { tap: Tap }) {
  const [draft, setDraft] = useState(String(tap.rate));
  useEffect(() => setDraft(String(tap.rate)), [tap.rate]);
  const commit = () => {
    const rate = Number(draft);
    if (draft.trim() === "" || !Number.isFinite(rate) || rate < RATE.min || rate > RATE.max) {
      notifyError(MSG.tap.rate);
      setDraft(String(tap.rate));
    } else if (rate !== tap.rate) {
      retap(tap.target, { rate });
    }
  };
  return (
    <label className="tap-option" title="Events per second passed on at most (0.1 to 50)">
      Rate{" "}
      <input type="number" aria-label="Rate" min={RATE.min} max={RATE.max} step="any" value={draft}
        onChange={(e) => setDraft(e.target.value)} onBlur={commit} onKeyDown={(e) => e.key === "Enter" && commit()} />
      /s
    </label>
  );
}

function TapView({ tap, onTrace }: { tap: Tap; onTrace: (messageId: string) => void }) {
  return (
    <section className="tap" data-testid={`tap-${tap.target}`} data-state={tap.state}>
      <div className="panel-head">
        <h3>
          {tap.kind === "plug" ? "Plug" : "Socket"} <code>{tap.name}</code>
        </h3>
        <button type="button" onClick={() => closeTap(tap.target)} title={MSG.tap.untapTitle}>
          Untap
        </button>
      </div>
      <div className="button-row tap-controls">
        <button type="button" onClick={() => pauseTap(tap.target, !tap.paused)} aria-pressed={tap.paused}
          title={tap.paused ? "Show new messages again" : "Stop adding messages to the list; the tap stays"}>
          {tap.paused ? "Resume" : "Pause"}
        </button>
        <button type="button" onClick={() => clearTap(tap.target)} disabled={tap.events.length === 0}>
          Clear
        </button>
        <label className="tap-option" title="The share of messages to show">
          Sample{" "}
          <select aria-label="Sample" value={String(tap.sample)}
            onChange={(e) => retap(tap.target, { sample: Number(e.target.value) })}>
            {/* The server's own value when it is none of the choices. */}
            {(SAMPLES as readonly number[]).includes(tap.sample) ? null : <option value={String(tap.sample)}>{percent(tap.sample)}</option>}
            {SAMPLES.map((share) => (
              <option key={share} value={String(share)}>{percent(share)}</option>
            ))}
          </select>
        </label>
        <RateField tap={tap} />
      </div>
      {tap.state === "refused" && (
        <div className="error-box" role="alert">
          {tap.error}{" "}
          <button type="button" onClick={() => retap(tap.target)}>Try again</button>
        </div>
      )}
      {tap.state === "asked" && <p className="muted">{MSG.tap.asked}</p>}
      {tap.paused && tap.missed > 0 && <p className="muted" data-testid="tap-missed">{MSG.tap.missed(tap.missed)}</p>}
      {tap.events.length === 0 ? (
        tap.state !== "refused" && <p className="muted" data-testid="tap-waiting">{MSG.tap.waiting}</p>
      ) : (
        <ol className="tap-events">
          {tap.events.map((event) => (
            <EventItem key={`${event.message_id}:${event.attempt}:${event.at}`} event={event} onTrace={onTrace} />
          ))}
        </ol>
      )}
    </section>
  );
}

export function TapPanel() {
  const taps = useTaps((s) => s.taps);
  const shown = useTaps((s) => s.shown);
  const [trace, setTrace] = useState<string | null>(null);
  const all = Object.values(taps);
  const tap = (shown && taps[shown]) || all[all.length - 1];
  if (!tap) return null;
  return (
    <aside className="panel panel-tap" aria-label="Taps" data-testid="tap-panel">
      <header className="panel-head">
        <h2>Taps</h2>
        <button type="button" aria-label="Close taps" title="Untap all and close" onClick={closeTaps}>
          ×
        </button>
      </header>
      {all.length > 1 && (
        <div className="button-row tap-tabs" role="group" aria-label="Open taps">
          {all.map((t) => (
            <button key={t.target} type="button" className={t === tap ? "primary" : undefined} aria-pressed={t === tap}
              onClick={() => showTap(t.target)}>
              {t.name}
            </button>
          ))}
        </div>
      )}
      <TapView key={tap.target} tap={tap} onTrace={setTrace} />
      {trace && <TraceView callId={trace} onClose={() => setTrace(null)} />}
    </aside>
  );
}
