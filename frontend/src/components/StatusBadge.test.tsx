// A processor's status badge on its card: several replicas show how many, and where on hover.
import { afterEach, describe, expect, it } from "vitest";
import { useStatus } from "../stores/status";
import { StatusBadge } from "./ProcessorNode";
import { mount, type Mounted } from "./testing";

let view: Mounted | undefined;

afterEach(() => {
  view?.unmount();
  view = undefined;
  useStatus.setState({ byId: {} });
});

const replica = (node: string, moving_to: string | null = null) => ({
  replica: 1, node, cpus: 1, status: "running", status_message: "", worker: "", moving_to,
});
const row = (placement: ReturnType<typeof replica>[]) => ({
  id: "p1", name: "p", status: "running", requested_status: "running", status_message: "3 of 3 replicas running", commit: "abc", placement,
});

describe("the card's status badge", () => {
  it("counts the replicas and names their nodes, a replica being moved once", () => {
    useStatus.getState().set([row([replica("n1"), replica("n2", "n3"), replica("n3"), replica("n2")])]);
    view = mount(<StatusBadge id="p1" />);
    const badge = view.host.querySelector('[data-testid="status-badge"]')!;
    expect(badge.textContent).toBe("running ×3");
    expect(badge.getAttribute("title")).toContain("replicas on n1, n3, n2");
  });

  it("says nothing more for one replica", () => {
    useStatus.getState().set([row([replica("n1")])]);
    view = mount(<StatusBadge id="p1" />);
    expect(view.host.querySelector('[data-testid="replica-count"]')).toBeNull();
  });
});
