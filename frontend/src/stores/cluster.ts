// The dashboard's live state from /ws/metrics/: the latest `cluster` frame (nodes, workers, top failing sockets,
// deepest queues) and the last minute of per-flow counts. Frames come once a second, so each one is published as
// it comes; nothing here is shared with the designer.
import { create } from "zustand";
import type { ClusterFrame, NodeState, SocketRank, WorkerState } from "../live/frames";
import type { ClusterSecond } from "../metrics/series";
import { WINDOW } from "../metrics/window";

export const CLUSTER_PATH = "/ws/metrics/";

export interface ClusterState {
  /** The second of the newest frame; 0 until the first one. */
  t: number;
  nodes: NodeState[];
  workers: WorkerState[];
  topErrors: SocketRank[];
  deepest: SocketRank[];
  /** Oldest first, at most WINDOW seconds ending at `t`. */
  seconds: ClusterSecond[];
}

const EMPTY: ClusterState = { t: 0, nodes: [], workers: [], topErrors: [], deepest: [], seconds: [] };

export const useCluster = create<ClusterState>(() => EMPTY);

/** Apply one frame: a snapshot replaces the minute, a cluster frame sets (not adds: they are totals) its second. */
export function applyClusterFrame(frame: ClusterFrame): void {
  if (frame.type !== "cluster" && frame.type !== "snapshot") return;
  const prev = useCluster.getState();
  const byT = new Map<number, ClusterSecond>();
  if (frame.type === "cluster") for (const s of prev.seconds) byT.set(s.t, s);
  for (const s of frame.seconds ?? []) byT.set(s.t, { t: s.t, flows: s.flows });
  byT.set(frame.t, { t: frame.t, flows: Object.fromEntries((frame.flows ?? []).map((f) => [f.id, f])) });
  const t = Math.max(frame.t, frame.type === "cluster" ? prev.t : 0);
  const seconds = [...byT.values()].filter((s) => s.t > t - WINDOW && s.t <= t).sort((a, b) => a.t - b.t);
  useCluster.setState({
    t,
    nodes: frame.nodes ?? [],
    workers: frame.workers ?? [],
    topErrors: frame.top_errors ?? [],
    deepest: frame.deepest ?? [],
    seconds,
  });
}

export function resetCluster(): void {
  useCluster.setState(EMPTY);
}
