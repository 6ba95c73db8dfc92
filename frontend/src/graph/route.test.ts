import { describe, expect, it } from "vitest";
import { detour, laneOf, needsDetour, type Box } from "./route";

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
