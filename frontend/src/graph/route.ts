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
const LANE = 7;
const RADIUS = 8;

/** Whether a plug from `source` (an output, on a card's right) to `target` (an input, on a card's left) must go
 * round: the same card, or a target input left of where the source's output could turn. */
export function needsDetour(source: Point, target: Point, sameCard: boolean): boolean {
  return sameCard || target.x < source.x + 2 * MARGIN;
}

/** A lane per output row, so two plugs going round one card do not run on top of each other. */
export function laneOf(source: Point, card: Box): number {
  return Math.max(0, Math.round((source.y - card.y) / 14)) % 6;
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
