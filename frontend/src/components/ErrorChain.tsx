// Where an error came from when it came up through calls made from inside functions (its `chain`, innermost
// first): shown above the traceback wherever a failure is, in a trace, a test message's answer and dead letters.
import type { ChainLink } from "../api/types";
import { chainLines } from "./runs";

export function ErrorChain({ chain }: { chain?: ChainLink[] | null }) {
  const lines = chainLines(chain);
  if (!lines.length || !chain) return null;
  return (
    <ol className="error-chain" aria-label="Where it failed, innermost call first" data-testid="error-chain">
      {lines.map((line, i) => (
        <li key={i} title={chain[i].socket ? `socket ${chain[i].socket}${i === 0 ? " (where it first failed)" : ""}` : undefined}>
          <code>{line}</code>
        </li>
      ))}
    </ol>
  );
}
