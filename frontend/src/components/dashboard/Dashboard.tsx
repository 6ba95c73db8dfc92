// The cluster dashboard at /dashboard/: live (the last minute from /ws/metrics/) or a history range (from
// /api/metrics/*). A separate chunk (App.tsx imports it lazily), so uPlot never weighs on the designer.
import { useEffect, useMemo, useState } from "react";
import { api } from "../../api/client";
import type { AgentRow, SocketRankRow } from "../../api/types";
import type { ClusterFrame } from "../../live/frames";
import { subscribe } from "../../live/socket";
import { formatCount, formatMs } from "../../metrics/format";
import { historyChart, liveChart, RANGES, rangeQuery, type ChartData, type RangeChoice } from "../../metrics/series";
import { MSG } from "../../messages";
import { applyClusterFrame, CLUSTER_PATH, resetCluster, useCluster } from "../../stores/cluster";
import { LiveClosedBanner, LiveDot } from "../LiveState";
import { PlacementTable, ScaleEventsTable, slotsByNode, usePlacement } from "./Placement";
import { AgentsTable, NodesTable, SocketTable, WorkersTable } from "./Tables";
import { COLORS, TimeChart, type Line } from "./TimeChart";

const AGENTS_EVERY_MS = 15_000;

interface History {
  choice: RangeChoice;
  loading: boolean;
  error: string;
  chart: ChartData | null;
  topErrors: SocketRankRow[];
  slowest: SocketRankRow[];
}

function useClusterFeed(): void {
  useEffect(() => {
    resetCluster();
    const off = subscribe(CLUSTER_PATH, (frame) => applyClusterFrame(frame as unknown as ClusterFrame));
    return () => {
      off();
      resetCluster();
    };
  }, []);
}

/** Agents (REST: the websocket names them only) and processor names for the workers table, refreshed slowly. */
function useNames(): { agents: AgentRow[] | null; agentsError: string; processorNames: Record<string, string> } {
  const [agents, setAgents] = useState<AgentRow[] | null>(null);
  const [agentsError, setAgentsError] = useState("");
  const [processorNames, setProcessorNames] = useState<Record<string, string>>({});
  useEffect(() => {
    let live = true;
    const load = async () => {
      try {
        const page = await api.agents();
        if (live) {
          setAgents(page.results);
          setAgentsError("");
        }
      } catch (error) {
        if (live) setAgentsError((error as Error).message);
      }
    };
    void load();
    const timer = setInterval(() => void (document.hidden || load()), AGENTS_EVERY_MS);
    api.allProcessors().then(
      (page) => live && setProcessorNames(Object.fromEntries(page.results.map((p) => [p.id, p.name]))),
      () => undefined, // names are a nicety: the table shows ids without them
    );
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, []);
  return { agents, agentsError, processorNames };
}

async function loadHistory(choice: RangeChoice): Promise<Omit<History, "choice" | "loading">> {
  const range = rangeQuery(choice);
  const [flows, errors, slow] = await Promise.allSettled([
    api.flowsMetrics(range),
    api.topSockets(range, "errors"),
    api.topSockets(range, "p95"),
  ]);
  if (flows.status === "rejected") {
    return { error: MSG.dashboard.historyFailed((flows.reason as Error).message), chart: null, topErrors: [], slowest: [] };
  }
  return {
    error: "",
    chart: historyChart(flows.value),
    topErrors: errors.status === "fulfilled" ? errors.value.sockets : [],
    slowest: slow.status === "fulfilled" ? slow.value.sockets : [],
  };
}

function chartLines(chart: ChartData): { throughput: Line[]; latency: Line[] } {
  const throughput: Line[] = [];
  const latency: Line[] = [];
  chart.flows.forEach((flow, i) => {
    const color = COLORS[i % COLORS.length];
    throughput.push({ label: `${flow.name} in`, color, values: flow.in });
    throughput.push({ label: `${flow.name} out`, color, dashed: true, values: flow.out });
    latency.push({ label: `${flow.name} p95`, color, values: flow.p95 });
  });
  return { throughput, latency };
}

const rate = (v: number) => `${formatCount(Math.round(v * 10) / 10)}/s`;

export default function Dashboard() {
  useClusterFeed();
  const { agents, agentsError, processorNames } = useNames();
  const placement = usePlacement();
  const cluster = useCluster();
  const [history, setHistory] = useState<History | null>(null);

  const liveData = useMemo(
    () => liveChart(cluster.seconds, cluster.t || Math.floor(Date.now() / 1000) - 1),
    [cluster.seconds, cluster.t],
  );
  const chart = history ? history.chart : liveData;
  const lines = useMemo(() => (chart ? chartLines(chart) : { throughput: [], latency: [] }), [chart]);

  async function pick(choice: RangeChoice | null) {
    if (!choice) {
      setHistory(null);
      return;
    }
    setHistory({ choice, loading: true, error: "", chart: null, topErrors: [], slowest: [] });
    const loaded = await loadHistory(choice);
    // Only if the person has not picked something else meanwhile.
    setHistory((h) => (h && h.choice.key === choice.key && h.loading ? { choice, loading: false, ...loaded } : h));
  }

  const noFlows = history
    ? history.loading ? "Loading…" : history.error ? "" : MSG.dashboard.noHistory
    : MSG.dashboard.noThroughput;
  const noLatency = history ? noFlows : MSG.dashboard.noLatency;
  const empty = !chart || chart.flows.length === 0;

  return (
    <main className="dashboard" data-testid="dashboard">
      <header className="dashboard-head">
        <h1>Cluster</h1>
        <LiveDot path={CLUSTER_PATH} />
        <span className="spacer" />
        <span className="range-picker" role="group" aria-label="Time range">
          <button type="button" className={!history ? "primary" : undefined} onClick={() => void pick(null)}
            title="The last minute, second by second, as it happens">
            Live
          </button>
          {RANGES.map((choice) => (
            <button key={choice.key} type="button" className={history?.choice.key === choice.key ? "primary" : undefined}
              onClick={() => void pick(choice)} title={`History of the last ${choice.label} (${choice.step / 60} min steps)`}>
              {choice.label}
            </button>
          ))}
        </span>
      </header>
      <LiveClosedBanner path={CLUSTER_PATH} />
      {history?.error && <div className="error-box" role="alert">{history.error}</div>}

      <section className="card">
        <h2>
          Throughput{" "}
          <span className="muted">
            msgs/s in (solid) and out (dashed){history ? `, averaged over ${history.choice.step / 60} min` : ", last minute"}
          </span>
        </h2>
        <TimeChart testId="dashboard-chart" xs={chart?.xs ?? []} lines={lines.throughput} format={rate}
          empty={empty ? noFlows : undefined} />
        {!!chart?.hidden && (
          <p className="muted">The {chart.flows.length} busiest flows are drawn; {chart.hidden} more moved too.</p>
        )}
      </section>
      <section className="card">
        <h2>Latency <span className="muted">p95 of execution time per flow</span></h2>
        <TimeChart testId="dashboard-latency-chart" xs={chart?.xs ?? []} lines={lines.latency} format={formatMs}
          height={180} empty={empty ? noLatency : undefined} />
      </section>

      <div className="dashboard-grid">
        <section className="card">
          <h2>{history ? `Most failing sockets, last ${history.choice.label}` : "Most failing sockets, last minute"}</h2>
          {history ? (
            <SocketTable rows={history.topErrors} what="errors" empty={MSG.dashboard.noErrorsHistory}
              testId="dashboard-top-errors" />
          ) : (
            <SocketTable rows={cluster.topErrors} what="errors" empty={MSG.dashboard.noErrors} testId="dashboard-top-errors" />
          )}
        </section>
        {history ? (
          <section className="card">
            <h2>Slowest sockets (p95), last {history.choice.label}</h2>
            <SocketTable rows={history.slowest} what="p95" empty={MSG.dashboard.noSlow} testId="dashboard-slowest" />
          </section>
        ) : (
          <section className="card">
            <h2>Deepest queues <span className="muted">now</span></h2>
            <SocketTable rows={cluster.deepest} what="depth" empty={MSG.dashboard.noQueues} testId="dashboard-deepest" />
          </section>
        )}
      </div>

      <section className="card">
        <h2>Workers <span className="muted">now</span></h2>
        <WorkersTable workers={cluster.workers} processorNames={processorNames} />
      </section>
      <div className="dashboard-grid">
        <section className="card">
          <h2>Placement <span className="muted">where each processor's replicas run</span></h2>
          <PlacementTable placement={placement} />
        </section>
        <section className="card">
          <h2>Autoscale decisions</h2>
          <ScaleEventsTable events={placement.events} />
        </section>
      </div>
      <div className="dashboard-grid">
        <section className="card">
          <h2>Nodes</h2>
          <NodesTable nodes={cluster.nodes} slots={slotsByNode(placement.processors)} />
        </section>
        <section className="card">
          <h2>Agents</h2>
          <AgentsTable agents={agents} error={agentsError} />
        </section>
      </div>
    </main>
  );
}
