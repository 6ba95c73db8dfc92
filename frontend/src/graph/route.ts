// Where a plug is drawn when the usual bezier would run under a card: from a socket to another socket of the same
// processor, or back to a processor on its left. Such a plug leaves to the right, runs below both cards and comes
// into its target from the left, so every plug is a visible line with its own direction, never hidden by a card.
// Pure: components/PlugEdge.tsx calls it with the cards' boxes, Vitest tests it.

export interface Point {
  x: number;
  y: number;
}
export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Space between a card and a plug running round it, in px; each lane adds LANE. */
export const MARGIN = 18;
/** A lane per output: the plugs of neighbouring sockets (two outputs apart) run 24 px apart, far enough to follow
 * each line (found by a newcomer: at 7 px a lane they ran 13 px apart and read as one). */
export const LANE = 12;
/** Lanes before they repeat: how far a detour may stray from its cards. */
export const LANES = 12;
const RADIUS = 8;

/** Whether a plug from `source` (an output, on a card's right) to `target` (an input, on a card's left) must go
 * round: the same card, or a target input left of where the source's output could turn. */
export function needsDetour(source: Point, target: Point, sameCard: boolean): boolean {
  return sameCard || target.x < source.x + 2 * MARGIN;
}

/** A lane per output of the card (`outputs`: the y of each of its output handles), so plugs going round one card
 * each run on a line of their own; estimated from the height on the card when the outputs are not measured yet. */
export function laneOf(source: Point, card: Box, outputs: number[] = []): number {
  if (outputs.length === 0) return Math.max(0, Math.round((source.y - card.y) / 14)) % LANES;
  const above = outputs.filter((y) => y < source.y - 1).length;
  return above % LANES;
}

/** The cards' box grown by as far as a plug going round them may run (right, below and left of them), for a
 * card with at most `outputs` outputs: fitting the view to it shows every detour whole. */
export function withDetours(cards: Box[], outputs: number): Box {
  const reach = MARGIN + Math.min(LANES - 1, Math.max(0, outputs - 1)) * LANE + 1;
  const all = boundsOf(cards);
  return { x: all.x - reach, y: all.y, width: all.width + 2 * reach, height: all.height + reach };
}

/** The smallest box holding every one of `boxes` (at least one). */
export function boundsOf(boxes: Box[]): Box {
  const left = Math.min(...boxes.map((b) => b.x));
  const top = Math.min(...boxes.map((b) => b.y));
  const right = Math.max(...boxes.map((b) => b.x + b.width));
  const bottom = Math.max(...boxes.map((b) => b.y + b.height));
  return { x: left, y: top, width: right - left, height: bottom - top };
}

/** Whether `inner` lies whole inside `outer`. */
export function within(inner: Box, outer: Box): boolean {
  return (
    inner.x >= outer.x && inner.y >= outer.y &&
    inner.x + inner.width <= outer.x + outer.width && inner.y + inner.height <= outer.y + outer.height
  );
}

/** The detour: right of the source, below every card in `cards`, left of the target, in; with rounded corners.
 * Returns the SVG path, its length, and the point halfway along it (where a label goes). */
export function detour(source: Point, target: Point, cards: Box[], lane = 0): { path: string; length: number; middle: Point } {
  const out = source.x + MARGIN + lane * LANE;
  const into = target.x - MARGIN - lane * LANE;
  const below = Math.max(...cards.map((c) => c.y + c.height)) + MARGIN + lane * LANE;
  const points: Point[] = [source, { x: out, y: source.y }, { x: out, y: below }, { x: into, y: below }, { x: into, y: target.y }, target];
  return { path: rounded(points), length: polylineLength(points), middle: halfway(points) };
}

function polylineLength(points: Point[]): number {
  let total = 0;
  for (let i = 1; i < points.length; i++) total += Math.hypot(points[i].x - points[i - 1].x, points[i].y - points[i - 1].y);
  return total;
}

function halfway(points: Point[]): Point {
  let left = polylineLength(points) / 2;
  for (let i = 1; i < points.length; i++) {
    const [a, b] = [points[i - 1], points[i]];
    const step = Math.hypot(b.x - a.x, b.y - a.y);
    if (step >= left && step > 0) return { x: a.x + ((b.x - a.x) * left) / step, y: a.y + ((b.y - a.y) * left) / step };
    left -= step;
  }
  return points[points.length - 1];
}

function rounded(points: Point[]): string {
  let d = `M ${points[0].x},${points[0].y}`;
  for (let i = 1; i < points.length - 1; i++) {
    const [a, b, c] = [points[i - 1], points[i], points[i + 1]];
    const r = Math.min(RADIUS, Math.hypot(b.x - a.x, b.y - a.y) / 2, Math.hypot(c.x - b.x, c.y - b.y) / 2);
    const before = toward(b, a, r);
    const after = toward(b, c, r);
    d += ` L ${before.x},${before.y} Q ${b.x},${b.y} ${after.x},${after.y}`;
  }
  const last = points[points.length - 1];
  return `${d} L ${last.x},${last.y}`;
}

function toward(from: Point, to: Point, distance: number): Point {
  const length = Math.hypot(to.x - from.x, to.y - from.y) || 1;
  return { x: from.x + ((to.x - from.x) * distance) / length, y: from.y + ((to.y - from.y) * distance) / length };
}
