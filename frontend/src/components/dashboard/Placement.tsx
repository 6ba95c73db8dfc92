// Where processors run and why they moved: each processor's replicas by node (GET /api/processors/, `placement`),
// the CPU slots they take per node, and the autoscaler's latest decisions (GET /api/scale-events/). Read every few
// seconds while the page is visible: placement changes at human pace, not per message.
import { useEffect, useState } from "react";
import { api } from "../../api/client";
import type { ProcessorRow, ScaleEvent } from "../../api/types";
import { ago } from "./Tables";

const EVERY_MS = 5_000;

export interface Placement {
  processors: ProcessorRow[];
  events: ScaleEvent[];
  error: string;
}

export function usePlacement(): Placement {
  const [state, setState] = useState<Placement>({ processors: [], events: [], error: "" });
  useEffect(() => {
    let live = true;
    const load = async () => {
      const [processors, events] = await Promise.allSettled([api.allProcessors(), api.scaleEvents()]);
      if (!live) return;
      setState({
        processors: processors.status === "fulfilled" ? processors.value.results : [],
        events: events.status === "fulfilled" ? events.value.results : [],
        error: processors.status === "rejected" ? (processors.reason as Error).message : "",
      });
    };
    void load();
    const timer = setInterval(() => void (document.hidden || load()), EVERY_MS);
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, []);
  return state;
}

/** CPU slots the replicas placed on each node take (a replica takes its processor's concurrency). */
export function slotsByNode(processors: ProcessorRow[]): Record<string, number> {
  const slots: Record<string, number> = {};
  for (const p of processors) for (const r of p.placement ?? []) slots[r.node] = (slots[r.node] ?? 0) + r.cpus;
  return slots;
}

const restriction = (p: ProcessorRow) => (p.node ? `pinned to ${p.node}` : p.scheduler ? `scheduler ${p.scheduler}` : "any node");

export function PlacementTable({ placement }: { placement: Placement }) {
  if (placement.error) return <p className="error-box">{placement.error}</p>;
  const placed = placement.processors.filter((p) => p.requested_status !== "stopped" || (p.placement ?? []).length);
  if (!placed.length) return <p className="empty">No processor is asked to run.</p>;
  return (
    <table className="grid" data-testid="dashboard-placement">
      <thead>
        <tr><th>Processor</th><th>Replicas</th><th>Where</th><th>Restricted to</th></tr>
      </thead>
      <tbody>
        {placed.map((p) => {
          const replicas = p.placement ?? [];
          const wanted = Math.max(p.replicas ?? 1, p.scaled_replicas ?? 0);
          const waiting = Math.max(0, wanted - replicas.filter((r) => !r.moving_to).length);
          return (
            <tr key={p.id} data-testid={`placement-${p.name}`}>
              <td title={p.status_message}>{p.name}</td>
              <td>
                {replicas.filter((r) => !r.moving_to).length} of {wanted}
                {p.replicas_max ? <span className="muted"> (up to {p.replicas_max})</span> : null}
              </td>
              <td>
                {replicas.map((r) => (
                  <span key={`${r.replica}-${r.node}`} className={`badge badge-${r.status}`} title={r.status_message}>
                    {r.node}{r.moving_to ? ` → ${r.moving_to}` : ""}
                  </span>
                ))}
                {waiting > 0 && <span className="badge badge-error" title={p.status_message}>{waiting} waiting</span>}
              </td>
              <td className="muted">{restriction(p)}</td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

export function ScaleEventsTable({ events }: { events: ScaleEvent[] }) {
  if (!events.length) return <p className="empty">No autoscale decision yet (a processor scales with replicas_max).</p>;
  return (
    <table className="grid" data-testid="dashboard-scale-events">
      <thead>
        <tr><th>When</th><th>Processor</th><th>Decision</th><th>Why</th></tr>
      </thead>
      <tbody>
        {events.map((e) => (
          <tr key={e.id}>
            <td>{ago(e.at)}</td>
            <td>{e.processor_name}</td>
            <td>
              <span className={`badge badge-${e.action === "blocked" ? "error" : "running"}`}>{e.action}</span>{" "}
              {e.replicas_from} → {e.replicas_to}
            </td>
            <td className="muted">{e.reason}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
