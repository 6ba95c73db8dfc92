import { describe, expect, it } from "vitest";
import { axisLabels, formatMs } from "./format";

describe("the value axis", () => {
  it("never prints the same label twice in a row", () => {
    // 0.01 and 0.012 both read "0.01 ms" at this precision: the second is left blank.
    expect(axisLabels([0.01, 0.012, 0.02], formatMs)).toEqual(["0.01 ms", "", "0.02 ms"]);
    const labels = axisLabels([0.01, 0.012, 0.014, 0.02, 0.021], formatMs);
    expect(labels.filter((l: string, i: number) => l !== "" && l === labels[i - 1])).toEqual([]);
  });
});
