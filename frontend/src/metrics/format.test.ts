import { describe, expect, it } from "vitest";
import { formatCount, formatMs, pressure } from "./format";

describe("metric formats", () => {
  it("colours a queue by how full it is against its max", () => {
    expect(pressure({ depth: 4, max: 10 })).toBe("ok");
    expect(pressure({ depth: 5, max: 10 })).toBe("warn");
    expect(pressure({ depth: 8, max: 10 })).toBe("warn");
    expect(pressure({ depth: 9, max: 10 })).toBe("full");
    expect(pressure({ depth: 12, max: 10 })).toBe("full");
    expect(pressure({ depth: 0, max: 10 }, true)).toBe("full");
  });

  it("colours an unbounded queue by its absolute depth, held or not", () => {
    expect(pressure({ depth: 0, max: null })).toBe("none");
    expect(pressure({ depth: 12, max: null })).toBe("ok");
    expect(pressure({ depth: 100, max: null })).toBe("warn");
    expect(pressure({ depth: 4659, max: null })).toBe("full");
    expect(pressure({ depth: 4659, max: null }, true)).toBe("full");
    expect(pressure(undefined)).toBe("none");
  });

  it("reads milliseconds and counts briefly", () => {
    expect(formatMs(null)).toBe("–");
    expect(formatMs(0.4234)).toBe("0.42 ms");
    expect(formatMs(4.25)).toBe("4.3 ms");
    expect(formatMs(42.4)).toBe("42 ms");
    expect(formatMs(1234)).toBe("1.2 s");
    expect(formatCount(12)).toBe("12");
    expect(formatCount(12_345)).toBe("12k");
  });
});
