// The one owner of the app's websockets (STYLE.md): one connection per path however many components listen,
// reconnect with capped exponential backoff and jitter, and a small store of each connection's state for the UI.
// The server sends a `snapshot` by itself on every (re)connect, so a listener never has to ask after a reconnect;
// frames missed while disconnected are covered by that snapshot (the channel layer is at most once anyway). What a
// client asked of the server for its connection alone (a tap) dies with that connection: such "standing" frames
// are kept here and sent again on every (re)connect.
import { create } from "zustand";
import { MSG } from "../messages";
import { CLOSE, type AnyFrame } from "./frames";

export type Handler = (frame: AnyFrame) => void;

export type LiveState =
  | { state: "connecting" }
  | { state: "connected" }
  | { state: "reconnecting"; attempt: number; retryInMs: number }
  | { state: "closed"; code: number; reason: string };

/** Connection state per path, for the small indicator in the designer and the dashboard. */
export const useLive = create<{ byPath: Record<string, LiveState> }>(() => ({ byPath: {} }));

export const BACKOFF = { baseMs: 500, capMs: 10_000 } as const;
// Answer to 'are you still there?': a ping every PING_MS; nothing heard for DEAD_MS means the connection died
// without a close (a laptop lid, a proxy dropping idle sockets), so it is dropped and dialled again.
export const PING_MS = 20_000;
export const DEAD_MS = 45_000;
// These closes are answers, not accidents: dialling again would get the same answer.
const FINAL = new Set<number>([CLOSE.unauthenticated, CLOSE.forbiddenOrigin, CLOSE.notFound]);

/** Delay before reconnect attempt `attempt` (0-based): doubling from 0.5 s up to 10 s, with "equal jitter" (half
 * fixed, half random) so that a server restart is not followed by every browser dialling in the same instant. */
export function backoff(attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(BACKOFF.capMs, BACKOFF.baseMs * 2 ** Math.min(attempt, 30));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

export function wsUrl(path: string, location: Pick<Location, "protocol" | "host"> = window.location): string {
  return `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}${path}`;
}

interface Channel {
  path: string;
  ws: WebSocket | null;
  handlers: Set<Handler>;
  attempt: number;
  retry: ReturnType<typeof setTimeout> | undefined;
  heartbeat: ReturnType<typeof setInterval> | undefined;
  lastHeard: number;
  serverReason: string;
  disposed: boolean;
}

const channels = new Map<string, Channel>();
// Per path, the standing frames by their owner's key (see `standing`); apart from the channels, so that one kept
// before the connection opens, or while it is down, is sent when it opens.
const standingFrames = new Map<string, Map<string, AnyFrame>>();

function setState(path: string, state: LiveState | null): void {
  const byPath = { ...useLive.getState().byPath };
  if (state) byPath[path] = state;
  else delete byPath[path];
  useLive.setState({ byPath });
}

function detach(ws: WebSocket): void {
  ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
}

function open(ch: Channel): void {
  ch.retry = undefined;
  ch.serverReason = "";
  if (ch.attempt === 0) setState(ch.path, { state: "connecting" });
  let ws: WebSocket;
  try {
    ws = new WebSocket(wsUrl(ch.path));
  } catch {
    scheduleReconnect(ch);
    return;
  }
  ch.ws = ws;
  ws.onopen = () => {
    ch.attempt = 0;
    ch.lastHeard = Date.now();
    setState(ch.path, { state: "connected" });
    clearInterval(ch.heartbeat);
    ch.heartbeat = setInterval(() => beat(ch), PING_MS);
    for (const frame of [...(standingFrames.get(ch.path)?.values() ?? [])]) send(ch.path, frame);
  };
  ws.onmessage = (event: MessageEvent) => {
    ch.lastHeard = Date.now();
    let frame: AnyFrame;
    try {
      frame = JSON.parse(String(event.data)) as AnyFrame;
    } catch {
      return; // not ours to guess at; the next frame or the snapshot after a reconnect brings the state
    }
    if (!frame || typeof frame.type !== "string") return;
    if (frame.type === "error") ch.serverReason = String(frame.message ?? frame.error ?? frame.detail ?? "");
    // A copy: a handler may unsubscribe (or subscribe another) while we dispatch.
    for (const handler of [...ch.handlers]) {
      try {
        handler(frame);
      } catch (error) {
        console.error("live frame handler failed", error);
      }
    }
  };
  ws.onclose = (event: CloseEvent) => {
    clearInterval(ch.heartbeat);
    ch.heartbeat = undefined;
    ch.ws = null;
    if (ch.disposed) return;
    if (FINAL.has(event.code)) {
      setState(ch.path, { state: "closed", code: event.code, reason: MSG.live.closed(event.code, ch.serverReason) });
      return;
    }
    scheduleReconnect(ch);
  };
}

function scheduleReconnect(ch: Channel): void {
  if (ch.disposed || ch.retry !== undefined) return;
  const retryInMs = backoff(ch.attempt);
  ch.attempt += 1;
  setState(ch.path, { state: "reconnecting", attempt: ch.attempt, retryInMs });
  ch.retry = setTimeout(() => open(ch), retryInMs);
}

function beat(ch: Channel): void {
  const ws = ch.ws;
  if (!ws) return;
  if (Date.now() - ch.lastHeard > DEAD_MS) {
    // Waiting for the close handshake of a dead connection can take minutes: let it go and dial again now.
    detach(ws);
    ws.close();
    ch.ws = null;
    clearInterval(ch.heartbeat);
    ch.heartbeat = undefined;
    scheduleReconnect(ch);
    return;
  }
  send(ch.path, { type: "ping" });
}

/** The shared connection of `path`, opened if it is not yet. Prefer `subscribe`: a connection nobody listens to
 * stays open until `disconnect`. */
export function connect(path: string): { send: (frame: AnyFrame) => boolean } {
  let ch = channels.get(path);
  if (!ch) {
    ch = {
      path,
      ws: null,
      handlers: new Set(),
      attempt: 0,
      retry: undefined,
      heartbeat: undefined,
      lastHeard: 0,
      serverReason: "",
      disposed: false,
    };
    channels.set(path, ch);
    open(ch);
  }
  return { send: (frame) => send(path, frame) };
}

/** Listen to the frames of `path`; the returned function stops listening, and the last one to stop closes it. */
export function subscribe(path: string, handler: Handler): () => void {
  connect(path);
  const ch = channels.get(path)!;
  ch.handlers.add(handler);
  let done = false;
  return () => {
    if (done) return;
    done = true;
    ch.handlers.delete(handler);
    if (ch.handlers.size === 0 && channels.get(path) === ch) disconnect(path);
  };
}

/** Send a frame now; false when the connection is not open (the snapshot after the reconnect makes up for it). */
export function send(path: string, frame: AnyFrame): boolean {
  const ws = channels.get(path)?.ws;
  if (!ws || ws.readyState !== 1 /* OPEN */) return false;
  ws.send(JSON.stringify(frame));
  return true;
}

/** Keep `frame` standing on `path` under `key`: sent now when the connection is open, and again after every
 * reconnect (the server forgets what a connection asked for when it closes), until the returned function is
 * called. A later frame under the same key replaces it; the earlier frame's release then does nothing. */
export function standing(path: string, key: string, frame: AnyFrame): () => void {
  let frames = standingFrames.get(path);
  if (!frames) standingFrames.set(path, (frames = new Map()));
  frames.set(key, frame);
  send(path, frame);
  return () => {
    const now = standingFrames.get(path);
    if (now?.get(key) !== frame) return;
    now.delete(key);
    if (now.size === 0) standingFrames.delete(path);
  };
}

export function disconnect(path: string): void {
  const ch = channels.get(path);
  if (!ch) return;
  ch.disposed = true;
  clearTimeout(ch.retry);
  clearInterval(ch.heartbeat);
  if (ch.ws) {
    detach(ch.ws);
    ch.ws.close(1000);
    ch.ws = null;
  }
  channels.delete(path);
  setState(path, null);
}

/** Dial again at once instead of waiting out the backoff: the browser is back online (every connection that is
 * reconnecting), or the user asked (`path`: also one closed for good, e.g. after logging in again in another tab). */
export function retryNow(path?: string): void {
  for (const ch of channels.values()) {
    if (path !== undefined && ch.path !== path) continue;
    const state = useLive.getState().byPath[ch.path];
    if (ch.ws || state?.state === "connected") continue;
    if (state?.state === "closed" && path === undefined) continue;
    clearTimeout(ch.retry);
    ch.attempt = 0;
    open(ch);
  }
}

if (typeof window !== "undefined") window.addEventListener("online", () => retryNow());
