// The dashboard's tables: nodes, agents, workers, failing sockets and deep queues. Plain rows fed by the cluster
// store (live) or a history answer; a link on a flow opens it in the designer.
import type { AgentRow, SocketRankRow } from "../../api/types";
import type { NodeState, SocketRank, WorkerState } from "../../live/frames";
import { formatCount, formatMb, formatMs, pressure } from "../../metrics/format";
import { MSG } from "../../messages";
import { followLink } from "../../router";

/** A utilisation bar: `ratio` of 1 is full; the text says the real value (a CPU can be past 100 %). */
export function Bar({ ratio, text, level }: { ratio: number | null; text: string; level?: string }) {
  const width = ratio === null || !Number.isFinite(ratio) ? 0 : Math.max(0, Math.min(1, ratio));
  const tone = level ?? (width >= 0.9 ? "full" : width >= 0.5 ? "warn" : "ok");
  return (
    <span className="bar" title={text}>
      <span className={`bar-fill bar-${tone}`} style={{ width: `${width * 100}%` }} />
      <span className="bar-text">{text}</span>
    </span>
  );
}

function FlowLink({ id, name }: { id: string; name: string }) {
  return (
    <a href={`/flows/${id}/`} onClick={(e) => followLink(e, `/flows/${id}/`)}>
      {name || id.slice(0, 8)}
    </a>
  );
}

export function ago(iso: string | null, now = Date.now()): string {
  if (!iso) return "never";
  const seconds = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (seconds < 90) return `${seconds} s ago`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min ago`;
  return `${Math.round(seconds / 3600)} h ago`;
}

const pct = (v: number | null) => (v === null ? "–" : `${Math.round(v)} %`);

/** Nodes, live; `slots`: the CPU slots placed replicas take on each (from the placement table's data). */
export function NodesTable({ nodes, slots = {} }: { nodes: NodeState[]; slots?: Record<string, number> }) {
  if (!nodes.length) return <p className="empty">{MSG.dashboard.noNodes}</p>;
  return (
    <table className="grid" data-testid="dashboard-nodes">
      <thead>
        <tr><th>Node</th><th>Status</th><th>Slots</th><th>CPU</th><th>Memory</th><th>Load</th><th>Agents</th></tr>
      </thead>
      <tbody>
        {nodes.map((n) => (
          <tr key={n.name}>
            <td>{n.name}</td>
            <td><span className={`badge badge-${n.status === "online" ? "running" : "error"}`}>{n.status}</span></td>
            <td title="CPU slots taken by the replicas placed here (a replica takes its processor's concurrency)">
              <Bar ratio={(slots[n.name] ?? 0) / Math.max(1, n.cpus)} text={`${slots[n.name] ?? 0} of ${n.cpus}`} />
            </td>
            <td>
              <Bar ratio={n.cpu_percent === null ? null : n.cpu_percent / 100}
                text={`${pct(n.cpu_percent)} of ${n.cpus} CPU${n.cpus === 1 ? "" : "s"}`} />
            </td>
            <td>
              <Bar
                ratio={n.memory_percent === null ? null : n.memory_percent / 100}
                text={n.memory_used_mb === null ? "–" : `${formatMb(n.memory_used_mb)} of ${formatMb(n.memory_total_mb)}`}
              />
            </td>
            <td title="1-minute load average against the node's CPUs">
              {n.load1 === null ? "–" : `${n.load1.toFixed(2)} / ${n.cpus}`}
            </td>
            <td>{n.agents.join(", ") || "–"}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function AgentsTable({ agents, error }: { agents: AgentRow[] | null; error: string }) {
  if (error) return <p className="error-box">{error}</p>;
  if (agents === null) return <p className="muted">Loading…</p>;
  if (!agents.length) return <p className="empty">{MSG.dashboard.noAgents}</p>;
  return (
    <table className="grid" data-testid="dashboard-agents">
      <thead>
        <tr><th>Agent</th><th>Node</th><th>Status</th><th>Version</th><th>Heartbeat</th></tr>
      </thead>
      <tbody>
        {agents.map((a) => (
          <tr key={a.id}>
            <td>{a.name}</td>
            <td>{a.node}</td>
            <td><span className={`badge badge-${a.status === "online" ? "running" : "error"}`}>{a.status}</span></td>
            <td>{a.version || "–"}</td>
            <td>{ago(a.last_heartbeat)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function WorkersTable({ workers, processorNames }: { workers: WorkerState[]; processorNames: Record<string, string> }) {
  if (!workers.length) return <p className="empty">{MSG.dashboard.noWorkers}</p>;
  return (
    <table className="grid" data-testid="dashboard-workers">
      <thead>
        <tr><th>Worker</th><th>Processor</th><th>Busy</th><th>CPU</th><th>Memory</th><th>Host</th></tr>
      </thead>
      <tbody>
        {workers.map((w) => (
          <tr key={w.name}>
            <td className="mono">{w.name}</td>
            <td>{processorNames[w.processor_id] ?? w.processor_id.slice(0, 8)}</td>
            <td>
              <Bar ratio={w.concurrency ? w.busy / w.concurrency : 0} text={`${w.busy.toFixed(1)} / ${w.concurrency} slots`} />
            </td>
            <td><Bar ratio={w.cpu_percent / 100} text={`${Math.round(w.cpu_percent)} %`} /></td>
            <td>{formatMb(w.rss_mb)}</td>
            <td>{w.host} · {w.pid}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

type Rank = Pick<SocketRank, "socket_id" | "socket" | "flow_id" | "flow" | "value"> & { max?: number | null };

/** Sockets ranked by `what`: failed calls, p95 or queue depth (with its max and back-pressure colour). */
export function SocketTable({ rows, what, empty, testId }: {
  rows: (Rank | SocketRankRow)[];
  what: "errors" | "p95" | "depth";
  empty: string;
  testId: string;
}) {
  if (!rows.length) return <p className="empty">{empty}</p>;
  return (
    <table className="grid" data-testid={testId}>
      <thead>
        <tr><th>Socket</th><th>Flow</th><th>{what === "errors" ? "Failed calls" : what === "p95" ? "p95" : "Depth"}</th></tr>
      </thead>
      <tbody>
        {rows.map((r) => (
          <tr key={r.socket_id}>
            <td className="mono">{r.socket}</td>
            <td><FlowLink id={r.flow_id} name={r.flow} /></td>
            <td>
              {what === "depth" ? (
                <DepthCell depth={r.value} max={"max" in r ? (r.max ?? null) : null} />
              ) : what === "p95" ? (
                formatMs(r.value)
              ) : (
                <span className={r.value > 0 ? "metric-bad" : undefined}>{formatCount(r.value)}</span>
              )}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function DepthCell({ depth, max }: { depth: number; max: number | null }) {
  const level = pressure({ depth, max });
  if (max === null || max <= 0) {
    return <span className={`depth-${level}`} title="unbounded queue">{formatCount(depth)}</span>;
  }
  return <Bar ratio={depth / max!} text={`${formatCount(depth)} / ${formatCount(max!)}`} level={level} />;
}
