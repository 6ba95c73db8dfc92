// The Runs panel: a run whose failure an error plug took reads as handled (amber, filterable, counted), a running
// run says how long it has been running, and a replay is acknowledged at once.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { api } from "../api/client";
import type { RunRow, SendAnswer } from "../api/types";
import { useToasts } from "../stores/toasts";
import { RunsPanel } from "./RunsPanel";
import type { Run } from "./runs";
import { click, mount, until, type Mounted } from "./testing";

const run = (over: Partial<Run>): Run => ({
  trace_id: `t-${over.root_id}`,
  root_id: "r",
  socket: "s1",
  socket_name: "split",
  status: "succeeded",
  started_at: new Date(Date.now() - 4200).toISOString(),
  finished_at: null,
  duration_ms: 1000,
  calls: 3,
  failed_calls: 0,
  handled_calls: 0,
  input: '"hello"',
  ...over,
});

const RUNS = [
  run({ root_id: "r1", status: "handled", handled_calls: 1 }),
  run({ root_id: "r2", status: "running", duration_ms: 1000 }),
  run({ root_id: "r3", status: "failed", failed_calls: 1 }),
  run({ root_id: "r4", status: "succeeded" }),
];

let view: Mounted;
const rows = () => [...view.host.querySelectorAll('[data-testid="run"]')] as HTMLElement[];
const row = (status: string) => rows().find((r) => r.dataset.status === status)!;

beforeEach(() => {
  useToasts.getState().clear();
  vi.spyOn(api, "runs").mockImplementation(async (_flow, status) => ({
    runs: RUNS.filter((r) => !status || r.status === status) as unknown as RunRow[],
  }));
});

afterEach(() => {
  view?.unmount();
  vi.restoreAllMocks();
});

describe("runs panel", () => {
  it("shows a handled run in amber, apart from succeeded and failed, with its handled calls counted", async () => {
    view = mount(<RunsPanel flowId="f1" onClose={() => {}} />);
    await until(() => rows().length === 4);
    const badge = (status: string) => row(status).querySelector(".badge")!.className;
    expect(badge("handled")).toContain("badge-run-handled");
    expect(new Set(["handled", "succeeded", "failed"].map(badge)).size).toBe(3);
    expect(row("handled").textContent).toContain("(1 handled)");
  });

  it("filters by handled", async () => {
    view = mount(<RunsPanel flowId="f1" onClose={() => {}} />);
    await until(() => rows().length === 4);
    const filter = [...view.host.querySelectorAll("button")].find((b) => b.textContent === "handled")!;
    click(filter);
    await until(() => rows().length === 1);
    expect(api.runs).toHaveBeenLastCalledWith("f1", "handled");
    expect(row("handled")).toBeDefined();
  });

  it("says how long a running run has been running, not what it took", async () => {
    view = mount(<RunsPanel flowId="f1" onClose={() => {}} />);
    await until(() => rows().length === 4);
    const time = row("running").querySelector('[data-testid="run-time"]')!.textContent!;
    expect(time).toMatch(/^running for \d+\.\d s$/);
    expect(row("succeeded").querySelector('[data-testid="run-time"]')!.textContent).toBe("took 1.0 s");
  });

  it("says at once that a replay is on its way", async () => {
    let answer: (value: SendAnswer) => void = () => {};
    vi.spyOn(api, "send").mockImplementation(() => new Promise((resolve) => (answer = resolve)));
    view = mount(<RunsPanel flowId="f1" onClose={() => {}} />);
    await until(() => rows().length === 4);
    click(row("failed").querySelector("button"));
    expect(useToasts.getState().toasts.map((t) => t.text)).toContain("Replaying the run's message to split…");
    answer({ id: "m2", results: [] });
    await until(() => useToasts.getState().toasts.some((t) => t.text.startsWith("Sent the run's message to split again")));
  });
});
