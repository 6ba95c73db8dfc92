// A processor on the canvas: one row per socket with its input on the left and its result (●) and error (◆)
// outputs on the right. Run status comes from the status store and live numbers from the metrics store, each read
// by a small child of its own, so a status change or a metrics update re-renders that child, not the node.
import { Handle, Position, useUpdateNodeInternals, type NodeProps } from "@xyflow/react";
import { memo, useEffect, useRef } from "react";
import type { SocketDoc } from "../api/types";
import { inHandle, outHandle, type ProcessorNode as ProcessorNodeType } from "../graph/model";
import { MSG } from "../messages";
import { HeldBadge, MetricsStrip } from "./MetricsStrip";
import { depthTitle, formatCount, formatMs, pressure } from "../metrics/format";
import { selectDepth, socketSecond, useMetrics } from "../stores/metrics";
import { useSearch } from "../stores/search";
import { useStatus } from "../stores/status";

const OUTPUTS = [
  { kind: "result", what: "result", top: "35%" },
  { kind: "error", what: "errors", top: "80%" },
] as const;

export function StatusBadge({ id }: { id: string }) {
  const row = useStatus((s) => s.byId[id]);
  if (!row) return <span className="badge badge-new" title="Not saved yet: save the flow to run it.">new</span>;
  const label = row.status === row.requested_status || row.status === "error" ? row.status : `${row.status} → ${row.requested_status}`;
  // Several replicas: how many, and where, on the card (the panel lists each one).
  const replicas = (row.placement ?? []).filter((r) => !r.moving_to);
  const where = replicas.length > 1 ? ` ×${replicas.length}` : "";
  const title = replicas.length > 1 ? `${row.status_message}\nreplicas on ${replicas.map((r) => r.node).join(", ")}` : row.status_message;
  return (
    <span className={`badge badge-${row.status}`} title={title} data-testid="status-badge">
      {label}
      {where && <span data-testid="replica-count">{where}</span>}
    </span>
  );
}

/** A pure socket's mark: its results are memoized by (socket, commit, arguments). */
export function PureBadge({ socket }: { socket: Pick<SocketDoc, "name" | "pure" | "memo_ttl"> }) {
  if (!socket.pure) return null;
  return (
    <span className="badge badge-pure" title={MSG.pure.badge(socket.memo_ttl ?? null)} data-testid={`pure-${socket.name}`}>
      ≡ pure
    </span>
  );
}

function StatusMessage({ id }: { id: string }) {
  const row = useStatus((s) => s.byId[id]);
  if (!row?.status_message || row.status !== "error") return null;
  return <div className="node-error">{row.status_message}</div>;
}

/** How many messages wait in this socket's queue, on every socket (an entry socket has no plug to carry it). */
const SocketDepth = memo(function SocketDepth({ socketId }: { socketId: string }) {
  const depth = useMetrics(selectDepth(socketId));
  if (!depth) return null;
  const level = pressure(depth);
  return (
    <span className={`socket-depth plug-depth-${level}`} title={depthTitle(depth)} data-testid={`socket-depth-${socketId}`}
      data-level={level}>
      {formatCount(depth.depth)}
    </span>
  );
});

function ProcessorNodeView({ id, data, selected }: NodeProps<ProcessorNodeType>) {
  const p = data.processor;
  const matched = useSearch((s) => s.matches.includes(id));
  const current = useSearch((s) => s.matches[s.current] === id);
  // The canvas measures a node's handles once; sockets added or removed later need a new measurement, or plugs
  // cannot start or end at them.
  // Not on mount: the canvas measures new nodes itself, and 500 extra measurements would stall the first paint.
  const updateInternals = useUpdateNodeInternals();
  const handles = p.sockets.map((s) => s.id).join(",");
  const measured = useRef(handles);
  useEffect(() => {
    if (measured.current === handles) return;
    measured.current = handles;
    updateInternals(id);
  }, [id, handles, updateInternals]);
  return (
    <div
      className={`processor-node${selected ? " selected" : ""}${matched ? " matched" : ""}${current ? " current" : ""}`}
      data-testid={`node-${p.name}`}
    >
      <header>
        <strong className="node-name">{p.name}</strong>
        <HeldBadge id={id} />
        <StatusBadge id={id} />
      </header>
      <div className="node-module" title={`${p.git_url} @ ${p.ref}`}>
        {p.module || "no module yet"}
      </div>
      <StatusMessage id={id} />
      {p.sockets.length === 0 && <div className="node-empty">no sockets</div>}
      {p.sockets.map((s) => (
        <div className="socket-row" key={s.id} data-testid={`socket-${s.name}`} data-socket-id={s.id}
          title={`${s.name}: click for its tools (send a test message, peek, dead letters)`}
          onMouseEnter={(e) => {
            // This socket's own rates, read when pointed at (the strip below sums the processor's sockets).
            const now = socketSecond(s.id);
            e.currentTarget.title = `${s.name}: ${
              now ? `${now.in} in/s, ${now.out} out/s, ${now.errors} err, mean ${formatMs(now.meanMs)}` : "no call in the last second"
            }. Click for its tools (send a test message, peek, dead letters).`;
          }}>
          <Handle type="target" position={Position.Left} id={inHandle(s.id)} className="handle-in" title={`input of ${s.name}`} />
          <span className="socket-name" title={s.name}>
            {s.function}
          </span>
          <PureBadge socket={s} />
          <SocketDepth socketId={s.id} />
          {OUTPUTS.map(({ kind, what, top }) => (
            <Handle
              key={kind}
              type="source"
              position={Position.Right}
              id={outHandle(kind, s.id)}
              className={`handle-${kind}`}
              title={`${what} of ${s.name}`}
              style={{ top }}
            />
          ))}
        </div>
      ))}
      {/* Last, with a fixed height: the handles of the socket rows above never move when the numbers change. */}
      <MetricsStrip id={id} />
    </div>
  );
}

export const ProcessorNode = memo(ProcessorNodeView);
