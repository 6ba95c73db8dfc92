import { describe, expect, it } from "vitest";
import { detour, laneOf, needsDetour, withDetours, type Box } from "./route";

const inside = (p: { x: number; y: number }, b: Box) => p.x > b.x && p.x < b.x + b.width && p.y > b.y && p.y < b.y + b.height;

describe("plugs that would run under a card go round it", () => {
  const card: Box = { x: 100, y: 100, width: 240, height: 120 };

  it("detours a plug between two sockets of one card, and a plug back to a card on the left", () => {
    expect(needsDetour({ x: 340, y: 140 }, { x: 100, y: 180 }, true)).toBe(true);
    expect(needsDetour({ x: 340, y: 140 }, { x: 100, y: 180 }, false)).toBe(true);
    expect(needsDetour({ x: 340, y: 140 }, { x: 500, y: 180 }, false)).toBe(false);
  });

  it("runs below the card, so its middle is outside it, and is long enough to see", () => {
    const route = detour({ x: 340, y: 140 }, { x: 100, y: 180 }, [card], laneOf({ x: 340, y: 140 }, card));
    expect(inside(route.middle, card)).toBe(false);
    expect(route.middle.y).toBeGreaterThan(card.y + card.height);
    expect(route.length).toBeGreaterThan(40);
    expect(route.path.startsWith("M 340,140")).toBe(true);
    expect(route.path.endsWith("L 100,180")).toBe(true);
  });

  it("runs below both cards of a backward plug", () => {
    const left: Box = { x: 0, y: 300, width: 240, height: 200 };
    const route = detour({ x: 340, y: 140 }, { x: 0, y: 340 }, [card, left]);
    expect(route.middle.y).toBeGreaterThan(500);
  });

  it("gives the outputs of different rows different lanes", () => {
    expect(laneOf({ x: 340, y: 140 }, card)).not.toBe(laneOf({ x: 340, y: 168 }, card));
  });
});

/** The x of each vertical and the y of each horizontal segment of a detour path (its corners, before rounding). */
function segments(path: string): { xs: number[]; ys: number[] } {
  const points = [...path.matchAll(/[MLQ] (-?[\d.]+),(-?[\d.]+)/g)].map((m) => ({ x: Number(m[1]), y: Number(m[2]) }));
  const xs: number[] = [];
  const ys: number[] = [];
  for (let i = 1; i < points.length; i++) {
    const [a, b] = [points[i - 1], points[i]];
    if (a.x === b.x && a.y !== b.y) xs.push(a.x);
    if (a.y === b.y && a.x !== b.x) ys.push(a.y);
  }
  return { xs, ys };
}

describe("plugs going round one card run apart", () => {
  // The demo's `words`: three socket rows 29 px apart, a result (●) and an error (◆) output on each.
  const card: Box = { x: 100, y: 100, width: 240, height: 170 };
  const rows = [160, 189, 218];
  const outputs = rows.flatMap((y) => [y - 4, y + 9]);
  const result = (row: number) => ({ x: 340, y: rows[row] - 4 });
  const input = (row: number) => ({ x: 100, y: rows[row] });

  it("keeps the plugs of neighbouring sockets at least 24 px apart (split→count beside count→aggregate)", () => {
    const splitToCount = detour(result(0), input(1), [card], laneOf(result(0), card, outputs));
    const countToAggregate = detour(result(1), input(2), [card], laneOf(result(1), card, outputs));
    const [a, b] = [segments(splitToCount.path), segments(countToAggregate.path)];
    const right = (s: { xs: number[] }) => Math.max(...s.xs);
    const left = (s: { xs: number[] }) => Math.min(...s.xs);
    const below = (s: { ys: number[] }) => Math.max(...s.ys);
    expect(Math.abs(right(a) - right(b))).toBeGreaterThanOrEqual(24);
    expect(Math.abs(left(a) - left(b))).toBeGreaterThanOrEqual(24);
    expect(Math.abs(below(a) - below(b))).toBeGreaterThanOrEqual(24);
    // A socket's result and error plugs have lanes of their own too.
    const lanes = outputs.map((y) => laneOf({ x: 340, y }, card, outputs));
    expect(new Set(lanes).size).toBe(outputs.length);
  });

  it("fits every detour of the cards inside the box the view is fitted to", () => {
    const other: Box = { x: -400, y: 300, width: 240, height: 120 };
    const box = withDetours([card, other], outputs.length);
    for (const [i, y] of outputs.entries()) {
      const route = detour({ x: 340, y }, input(i % rows.length), [card, other], laneOf({ x: 340, y }, card, outputs));
      const { xs, ys } = segments(route.path);
      expect(Math.max(...xs)).toBeLessThanOrEqual(box.x + box.width);
      expect(Math.min(...xs)).toBeGreaterThanOrEqual(box.x);
      expect(Math.max(...ys)).toBeLessThanOrEqual(box.y + box.height);
    }
  });
});
