// The state of a live connection, kept small: a dot in the toolbar, and a banner only when it is closed for good
// (a reconnect is routine; a 4401/4403/4404 needs the person to do something).
import { MSG } from "../messages";
import { retryNow, useLive } from "../live/socket";

export function LiveDot({ path }: { path: string }) {
  const state = useLive((s) => s.byPath[path]);
  if (!state) return null;
  const [text, title] =
    state.state === "connected"
      ? ["live", MSG.live.connected]
      : state.state === "connecting"
        ? ["connecting…", MSG.live.connecting]
        : state.state === "reconnecting"
          ? ["reconnecting…", MSG.live.reconnecting(state.retryInMs)]
          : ["not live", state.reason];
  return (
    <span className={`live-dot live-${state.state}`} title={title} data-testid="live-state" data-state={state.state}>
      <i aria-hidden="true">●</i>
      {text}
    </span>
  );
}

export function LiveClosedBanner({ path }: { path: string }) {
  const state = useLive((s) => s.byPath[path]);
  if (state?.state !== "closed") return null;
  return (
    <div className="banner banner-warn" role="alert" data-testid="live-closed">
      {state.reason}{" "}
      <button type="button" onClick={() => retryNow(path)}>Try again</button>
    </div>
  );
}
