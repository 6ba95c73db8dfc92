// The websocket frames, as backend/metrics/events.py defines them (its docstring is the contract). Every frame is
// one JSON object with a `type`.

export const CLOSE = {
  badFrame: 4400,
  unauthenticated: 4401,
  forbiddenOrigin: 4403,
  notFound: 4404,
} as const;

/** A socket's counts for one second: additive except time_max. */
export interface SocketCounts {
  in: number;
  out: number;
  errors: number;
  bytes_in: number;
  bytes_out: number;
  time_ms: number;
  time_max: number;
  held_ms: number;
  hist: number[];
}

export interface CallError {
  socket_id: string;
  message_id: string;
  trace_id: string;
  error: string;
  error_type: string;
  at: number;
}

export interface TickFrame {
  type: "tick";
  flow_id: string;
  t: number;
  worker: string;
  processor_id: string;
  sockets: Record<string, SocketCounts>;
  errors: CallError[];
  busy: number;
  concurrency: number;
}

export interface Depth {
  depth: number;
  /** The socket's max_queue_length (or its queue's max_length); null: unbounded. */
  max: number | null;
  /** The socket's worker holds output because a target queue is full. */
  held: boolean;
}

export interface DepthsFrame {
  type: "depths";
  flow_id: string;
  t: number;
  sockets: Record<string, Depth>;
}

export interface ProcessorState {
  id: string;
  status: string;
  status_message: string;
  requested_status: string;
}

export interface StatusFrame {
  type: "status";
  flow_id: string;
  processors: ProcessorState[];
}

export interface Second {
  t: number;
  sockets: Record<string, SocketCounts>;
  /** The workers whose counts `sockets` holds: their ticks for this second are already counted. */
  workers?: string[];
}

export interface WorkerState {
  name: string;
  processor_id: string;
  flow_id: string;
  busy: number;
  concurrency: number;
  cpu_percent: number;
  rss_mb: number;
  pid: number;
  host: string;
  at: number;
}

export interface FlowSnapshotFrame {
  type: "snapshot";
  flow_id: string;
  t: number;
  processors: ProcessorState[];
  seconds: Second[];
  depths: Record<string, Depth>;
  workers: WorkerState[];
}

export interface PongFrame {
  type: "pong";
}

/** Who else has this flow open in the designer (one name per other connection; a second tab of yours counts). */
export interface PresenceFrame {
  type: "presence";
  flow_id: string;
  others: string[];
  /** This connection's own user: an "other" of that name is the same person in another tab. */
  you: string;
}

/** Someone saved the flow's graph: its new version, by whom (when known), and the saving tab's client id. */
export interface SavedFrame {
  type: "saved";
  flow_id: string;
  version: number;
  by: string;
  client: string;
}

export type TapKind = "plug" | "socket";

/** One message seen by a tap (flows/runtime/taps.py): along a plug (`from` its source socket, `to` its target) or
 * arriving at a socket (`from` empty). */
export interface TapEvent {
  kind: TapKind;
  target: string;
  /** The plug's or socket's name. */
  name: string;
  from: string;
  to: string;
  message_id: string;
  trace_id: string;
  attempt: number;
  /** Epoch seconds. */
  at: number;
  /** JSON text, cut at the server's preview size (1 KiB) and then ending with "…". */
  payload: string;
}

/** A tap has started (or restarted with new settings), with the sample and rate the server took. */
export interface TappingFrame {
  type: "tapping";
  target: string;
  kind: TapKind;
  sample: number;
  rate: number;
}

/** Messages a tap saw since its last frame, oldest first. */
export interface TapFrame {
  type: "tap";
  target: string;
  kind: TapKind;
  events: TapEvent[];
}

export interface ErrorFrame {
  type: "error";
  code?: number;
  message?: string;
}

export type FlowFrame =
  | FlowSnapshotFrame
  | TickFrame
  | DepthsFrame
  | StatusFrame
  | PongFrame
  | ErrorFrame
  | PresenceFrame
  | SavedFrame
  | TappingFrame
  | TapFrame;

export interface NodeState {
  name: string;
  status: string;
  cpus: number;
  cpu_percent: number | null;
  memory_percent: number | null;
  memory_used_mb: number | null;
  memory_total_mb: number | null;
  load1: number | null;
  agents: string[];
  last_heartbeat: string | null;
}

export interface FlowCounts {
  id: string;
  name: string;
  in: number;
  out: number;
  errors: number;
  time_ms: number;
  time_max: number;
  hist: number[];
}

export interface SocketRank {
  socket_id: string;
  socket: string;
  processor_id: string;
  flow_id: string;
  flow: string;
  /** Errors in the last minute (top_errors) or queue depth (deepest). */
  value: number;
  max: number | null;
}

export interface ClusterFrame {
  type: "cluster" | "snapshot";
  t: number;
  nodes: NodeState[];
  workers: WorkerState[];
  flows: FlowCounts[];
  top_errors: SocketRank[];
  deepest: SocketRank[];
  /** Only in `snapshot`: the last minute of per-flow counts, oldest first. */
  seconds?: { t: number; flows: Record<string, FlowCounts> }[];
}

export type ClusterStreamFrame = ClusterFrame | PongFrame | ErrorFrame;

export type AnyFrame = { type: string; [key: string]: unknown };
