// Taps: the messages passing along a plug, or arriving at a socket, as they happen (flows/runtime/taps.py). A tap
// is asked for on the flow's websocket and held by the server for that connection only, so its `tap` frame
// stands (live/socket.ts): sent again after every reconnect until the tap is closed. Answers come through the
// designer's live feed (live/flow.ts). Only the newest MAX_EVENTS events are kept per tap, newest first.
import { create } from "zustand";
import type { ErrorFrame, TapEvent, TapFrame, TapKind, TappingFrame } from "../live/frames";
import { send, standing } from "../live/socket";
import { MSG } from "../messages";

export const MAX_EVENTS = 200;
/** The shares of messages a tap may ask for (the panel's choices). */
export const SAMPLES = [1, 0.1, 0.01] as const;
/** Events per second the server passes on at most (it clamps to min..max). */
export const RATE = { default: 10, min: 0.1, max: 50 } as const;

export interface Tap {
  target: string;
  kind: TapKind;
  /** The plug's or socket's name as the canvas had it. */
  name: string;
  sample: number;
  rate: number;
  /** Newest first. */
  events: TapEvent[];
  paused: boolean;
  /** Events that came while paused: not kept. */
  missed: number;
  /** asked: sent, not answered yet; tapping: the server holds it; refused: it said why (`error`). */
  state: "asked" | "tapping" | "refused";
  error: string;
}

export interface TapsState {
  /** By target id, in the order they were opened. */
  taps: Record<string, Tap>;
  /** The tap the panel shows. */
  shown: string | null;
}

export const useTaps = create<TapsState>(() => ({ taps: {}, shown: null }));

/** The websocket path the taps are held on (one flow's); null while there are none. */
let path: string | null = null;
const releases = new Map<string, () => void>();

function put(target: string, patch: Partial<Tap>): void {
  const { taps } = useTaps.getState();
  if (taps[target]) useTaps.setState({ taps: { ...taps, [target]: { ...taps[target], ...patch } } });
}

/** Send the tap's frame (again), standing until the tap is closed or refused. */
function ask(tap: Tap): void {
  if (!path) return;
  releases.get(tap.target)?.();
  const frame = { type: "tap", [tap.kind]: tap.target, sample: tap.sample, rate: tap.rate };
  releases.set(tap.target, standing(path, `tap:${tap.target}`, frame));
  put(tap.target, { state: "asked", error: "" });
}

function release(target: string): void {
  releases.get(target)?.();
  releases.delete(target);
}

/** Tap a plug or socket of the flow whose websocket is `at` (flowPath); an open tap is only shown. Taps of another
 * flow are closed first. */
export function openTap(at: string, kind: TapKind, target: string, name: string): void {
  if (path !== at) closeTaps();
  path = at;
  const { taps } = useTaps.getState();
  if (!taps[target]) {
    const tap: Tap = {
      target, kind, name, sample: 1, rate: RATE.default, events: [], paused: false, missed: 0, state: "asked", error: "",
    };
    useTaps.setState({ taps: { ...taps, [target]: tap } });
    ask(tap);
  }
  useTaps.setState({ shown: target });
}

export function closeTap(target: string): void {
  const { taps, shown } = useTaps.getState();
  if (!taps[target]) return;
  release(target);
  if (path && taps[target].state !== "refused") send(path, { type: "untap", target });
  const { [target]: _closed, ...rest } = taps;
  const left = Object.keys(rest);
  useTaps.setState({ taps: rest, shown: shown === target ? (left[left.length - 1] ?? null) : shown });
  if (left.length === 0) path = null;
}

/** Close every tap (the panel closed, or another flow opened). */
export function closeTaps(): void {
  for (const target of Object.keys(useTaps.getState().taps)) closeTap(target);
  path = null;
}

/** Ask again with another sample or rate (the server restarts the tap with them), or after a refusal. */
export function retap(target: string, patch: { sample?: number; rate?: number } = {}): void {
  put(target, patch);
  const tap = useTaps.getState().taps[target];
  if (tap) ask(tap);
}

/** Paused: events that come are counted, not kept; the tap itself stays. */
export function pauseTap(target: string, paused: boolean): void {
  put(target, paused ? { paused } : { paused, missed: 0 });
}

export function clearTap(target: string): void {
  put(target, { events: [], missed: 0 });
}

export function showTap(target: string): void {
  if (useTaps.getState().taps[target]) useTaps.setState({ shown: target });
}

/** A `tapping`, `tap` or `error` frame of the flow's websocket. */
export function applyTapFrame(frame: TappingFrame | TapFrame | ErrorFrame): void {
  const { taps } = useTaps.getState();
  if (frame.type === "tapping") {
    if (taps[frame.target]) put(frame.target, { state: "tapping", sample: frame.sample, rate: frame.rate, error: "" });
    return;
  }
  if (frame.type === "tap") {
    const tap = taps[frame.target];
    if (!tap || !Array.isArray(frame.events) || frame.events.length === 0) return;
    if (tap.paused) {
      put(frame.target, { missed: tap.missed + frame.events.length, state: "tapping" });
      return;
    }
    const events = [...frame.events].reverse().concat(tap.events).slice(0, MAX_EVENTS);
    put(frame.target, { events, state: "tapping" });
    return;
  }
  // An error without a close code is a refusal of one frame. The server answers frames in order, so it is the
  // answer to the oldest tap still waiting for one, unless it names a tap (one no longer in the flow).
  if (frame.code !== undefined || !frame.message) return;
  const message = frame.message;
  const all = Object.values(taps);
  const tap = all.find((t) => message.includes(t.target)) ?? all.find((t) => t.state === "asked");
  if (!tap) return;
  release(tap.target);
  put(tap.target, { state: "refused", error: MSG.tap.refused(message, tap.kind) });
}
