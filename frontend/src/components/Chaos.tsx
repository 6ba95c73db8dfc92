// A chaos drill (the flow's `chaos`): a percent of its calls fail on purpose, so retries, error plugs and dead
// letters can be seen working. Set from the toolbar; while it is on, a banner over the canvas says so and turns it
// off. Only the flow's owner may change it: anyone else's change is refused (403) and said in a notice, as every
// other refusal in the designer is.
import { useEffect, useRef, useState } from "react";
import { MSG } from "../messages";
import { selectReadOnly, useDesigner } from "../stores/designer";
import { notifyError, notifyInfo } from "../stores/toasts";

export const CHAOS_MAX = 45;

/** Set the drill; true once the server took it. */
export async function changeChaos(percent: number): Promise<boolean> {
  try {
    await useDesigner.getState().setChaos(percent);
    notifyInfo(MSG.chaos.set(percent));
    return true;
  } catch (error) {
    notifyError(error);
    return false;
  }
}

/** The toolbar's button, "Chaos" (or "Chaos 20 %" while on), and its small settings popover. */
export function ChaosControl() {
  const chaos = useDesigner((s) => s.chaos);
  const owner = useDesigner((s) => s.owner);
  const [open, setOpen] = useState(false);
  const [draft, setDraft] = useState(String(chaos));
  const [busy, setBusy] = useState(false);
  const box = useRef<HTMLSpanElement>(null);
  useEffect(() => setDraft(String(chaos)), [chaos, open]);
  // A click anywhere else closes it, as a menu does.
  useEffect(() => {
    if (!open) return;
    const onDown = (e: MouseEvent) => {
      if (!box.current?.contains(e.target as Node)) setOpen(false);
    };
    document.addEventListener("mousedown", onDown);
    return () => document.removeEventListener("mousedown", onDown);
  }, [open]);

  async function apply(percent: number) {
    if (!Number.isInteger(percent) || percent < 0 || percent > CHAOS_MAX) {
      notifyError(MSG.chaos.range);
      return;
    }
    setBusy(true);
    const done = await changeChaos(percent);
    setBusy(false);
    if (done) setOpen(false);
  }

  return (
    <span className="chaos-control" ref={box}>
      <button type="button" className={chaos ? "chaos-on" : undefined} aria-expanded={open} aria-haspopup="dialog"
        data-testid="chaos-button" title={MSG.chaos.hint(owner)} onClick={() => setOpen(!open)}>
        {chaos ? `Chaos ${chaos} %` : "Chaos"}
      </button>
      {open && (
        <div className="popover" role="dialog" aria-label="Chaos drill" data-testid="chaos-popover">
          <label className="field">
            <span>Chaos (% of calls failed on purpose)</span>
            <input type="number" min={0} max={CHAOS_MAX} step={1} aria-label="Chaos percent" value={draft} autoFocus
              disabled={busy} onChange={(e) => setDraft(e.target.value)}
              onKeyDown={(e) => {
                if (e.key === "Enter") void apply(Number(draft));
                if (e.key === "Escape") setOpen(false);
              }} />
          </label>
          <p className="muted">{MSG.chaos.hint(owner)}</p>
          <div className="button-row">
            <button type="button" className="primary" disabled={busy || draft.trim() === ""}
              onClick={() => void apply(Number(draft))}>
              Apply
            </button>
            {chaos > 0 && (
              <button type="button" disabled={busy} onClick={() => void apply(0)}>
                Turn off
              </button>
            )}
          </div>
        </div>
      )}
    </span>
  );
}

/** Over the canvas while a drill is on: how much fails on purpose, and a way to stop it. */
export function ChaosBanner() {
  const chaos = useDesigner((s) => s.chaos);
  const readOnly = useDesigner(selectReadOnly);
  const [busy, setBusy] = useState(false);
  if (!chaos) return null;
  return (
    <div className="banner banner-chaos" role="status" data-testid="chaos-banner">
      <strong>{MSG.chaos.banner(chaos)}</strong> <span className="chaos-detail">{MSG.chaos.detail}</span>{" "}
      {!readOnly && (
        <button type="button" disabled={busy} onClick={() => {
          setBusy(true);
          void changeChaos(0).finally(() => setBusy(false));
        }}>
          Turn off
        </button>
      )}
    </div>
  );
}
