// Who else is here, in little room: an avatar each with the name on hover, a few at most and the rest counted.
import { afterEach, describe, expect, it } from "vitest";
import { useDesigner } from "../stores/designer";
import { Presence, presenceChips } from "./Presence";
import { mount, type Mounted } from "./testing";

let view: Mounted | undefined;

afterEach(() => {
  view?.unmount();
  view = undefined;
  useDesigner.setState({ others: [], you: "" });
});

describe("presence in the toolbar", () => {
  it("shows a second tab of yours as you, once per person", () => {
    expect(presenceChips(["admin", "bob", "admin"], "admin")).toEqual({
      shown: [
        { label: "admin (another tab)", mine: true },
        { label: "bob", mine: false },
      ],
      more: [],
    });
  });

  it("shows at most three chips, the last counting the rest", () => {
    const { shown, more } = presenceChips(["ann", "bob", "cy", "dee", "eve"], "zed");
    expect(shown.map((c) => c.label)).toEqual(["ann", "bob"]);
    expect(more).toEqual(["cy", "dee", "eve"]);
  });

  it("draws an initial per person with the name as its tooltip, not the name in the toolbar", () => {
    useDesigner.setState({ others: ["admin", "bob", "cy", "dee"], you: "admin" });
    view = mount(<Presence />);
    const chips = [...view.host.querySelectorAll(".presence-user")] as HTMLElement[];
    expect(chips.map((c) => c.title)).toEqual(["admin (another tab) has this flow open", "bob has this flow open", "Also here: cy, dee"]);
    const visible = chips.map((c) => c.querySelector('[aria-hidden="true"]')!.textContent);
    expect(visible).toEqual(["A", "B", "+2"]);
    // The names are still there for screen readers (and tests).
    expect(view.host.textContent).toContain("admin (another tab)");
  });
});
