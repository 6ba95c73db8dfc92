// Who else has this flow open, in the toolbar: a small avatar per person with the name on hover (and for screen
// readers), at most a few, the rest counted, so the toolbar keeps its width however many are here.
import { MSG } from "../messages";
import { useDesigner } from "../stores/designer";

export interface PresenceChip {
  label: string;
  mine: boolean;
}

/** One chip per person (a second tab of yours shows as you, "(another tab)"); past `max` chips, the last one counts
 * the rest. */
export function presenceChips(others: string[], you: string, max = 3): { shown: PresenceChip[]; more: string[] } {
  const chips = new Map<string, PresenceChip>();
  for (const name of others) {
    const mine = name === you;
    const label = mine ? `${name} (another tab)` : name;
    chips.set(label, { label, mine });
  }
  const all = [...chips.values()];
  const fit = all.length > max ? max - 1 : max;
  return { shown: all.slice(0, fit), more: all.slice(fit).map((c) => c.label) };
}

export function Presence() {
  const others = useDesigner((s) => s.others);
  const you = useDesigner((s) => s.you);
  if (others.length === 0) return null;
  const { shown, more } = presenceChips(others, you);
  return (
    <span className="presence" data-testid="presence" aria-label={MSG.presence([...shown.map((c) => c.label), ...more])}>
      {shown.map(({ label, mine }) => (
        <span key={label} className={`presence-user${mine ? " presence-mine" : ""}`} title={`${label} has this flow open`}>
          <span aria-hidden="true">{label.slice(0, 1).toUpperCase()}</span>
          <span className="sr-only">{label}</span>
        </span>
      ))}
      {more.length > 0 && (
        <span className="presence-user presence-more" title={MSG.presence(more)}>
          <span aria-hidden="true">{`+${more.length}`}</span>
          <span className="sr-only">{`and ${more.join(", ")}`}</span>
        </span>
      )}
    </span>
  );
}
