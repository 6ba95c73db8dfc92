// JSON shapes of the REST API (field names are DESIGN.md §3's). Only what the designer reads or writes. The
// editable fields of processors, sockets and plugs, and the calls, come from the API's own schema (schema.gen.ts,
// `make api-types`), so a field the server adds or renames is a type error here until the designer handles it.
import type { components } from "./schema.gen";

type Schemas = components["schemas"];
/** What the graph document's processors, sockets and plugs carry that a person edits (the PUT's shapes). */
export type ProcessorInput = Schemas["GraphProcessorRequest"];
export type SocketInput = Schemas["GraphSocketRequest"];
export type PlugInput = Schemas["GraphPlugRequest"];

export type RunStatus =
  | "stopped"
  | "pending"
  | "building"
  | "starting"
  | "running"
  | "paused"
  | "stopping"
  | "error"
  | string;

export interface Position {
  x: number;
  y: number;
}

export interface Parameter {
  name: string;
  kind: string;
  default?: unknown;
}

export interface SocketDoc extends Omit<SocketInput, "id" | "queue" | "arguments" | "pure" | "memo_ttl"> {
  id: string;
  queue?: string;
  arguments?: Parameter[] | unknown;
  /** Results memoized by (socket, commit, arguments); absent in a document from before memoization: false. */
  pure?: boolean;
  /** Seconds a pure socket's result is kept; null or absent: the server's default (ELASTICCODE_MEMO_TTL). */
  memo_ttl?: number | null;
}

export interface ProcessorDoc extends Omit<ProcessorInput, "id" | "position" | "sockets" | "autoscale_max"> {
  id: string;
  /** 0: a fixed pool; above concurrency, Celery's autoscaler grows the worker's slots up to this. */
  autoscale_max?: number;
  commit?: string;
  requested_status?: RunStatus;
  status?: RunStatus;
  status_message?: string;
  position: Position | null;
  sockets: SocketDoc[];
}

export type PlugKind = Schemas["KindEnum"];

export interface PlugDoc extends Omit<PlugInput, "id" | "name"> {
  id: string;
  name: string;
}

export interface Rights {
  change: boolean;
  delete: boolean;
  reason: string;
}

export interface GraphDoc {
  id: string;
  name: string;
  description: string;
  version: number;
  layout: Record<string, unknown>;
  processors: ProcessorDoc[];
  plugs: PlugDoc[];
  rights?: Rights;
}

export interface FlowSummary {
  id: string;
  name: string;
  description: string;
  owner: string;
  /** A chaos drill: percent of calls (0 to 45) failed on purpose before their function runs; 0 is off. */
  chaos?: number;
  version: number;
  created_at: string;
  updated_at: string;
  rights?: Rights;
}

export interface Page<T> {
  count: number;
  next: string | null;
  previous: string | null;
  results: T[];
}

export interface Me {
  id: number;
  username: string;
  is_superuser?: boolean;
}

export interface FunctionInfo {
  name: string;
  signature: string;
  parameters: Parameter[];
  accepts_plugs: boolean;
  generator: boolean;
  doc: string;
  line: number;
  source: string;
}

export interface ModuleCode {
  git_url: string;
  ref: string;
  commit: string;
  module: string;
  /** The subdirectory the module imports from; `subdirectory_found`: discovery found it there, not where asked. */
  subdirectory?: string;
  subdirectory_found?: boolean;
  path: string;
  pinned?: boolean;
  functions: FunctionInfo[];
}

/** A trusted repository pattern (GET /api/repositories/); `browsable`: it names one repository (no wildcard). */
export type TrustedRepository = Schemas["TrustedRepository"];

/** A repository's modules (POST /api/flows/{id}/modules/), each with the subdirectory to import it from. */
export interface RepositoryModules {
  git_url: string;
  ref: string;
  commit: string;
  modules: { module: string; subdirectory: string; path: string }[];
  truncated: boolean;
}

export interface ProcessorRow {
  id: string;
  name: string;
  requested_status: RunStatus;
  status: RunStatus;
  status_message: string;
  commit: string;
  flow?: string;
  git_url?: string;
  ref?: string;
  module?: string;
  subdirectory?: string;
  concurrency?: number;
  replicas?: number;
  replicas_max?: number;
  scaled_replicas?: number;
  node?: string;
  scheduler?: string;
  /** Where each replica runs (placement; backend/cluster). */
  placement?: Replica[];
}

export type Replica = Schemas["Replica"];
export type ScaleEvent = Schemas["ScaleEvent"];

/** One call of an error's chain (flows/runtime/calls.py): the socket and how it was called ("divide(1, 0)"). */
export interface ChainLink {
  socket: string;
  call: string;
}

/** Where a failure came from when it came up through calls made from inside functions: `chain` innermost first,
 * `origin` the socket where it first failed. */
export interface ErrorChain {
  chain?: ChainLink[];
  origin?: string;
}

/** Why a message failed for good (flows/runtime/handler.py's failure document): `error` is one line that starts
 * with the exception's type ("ValueError: bad input"), `attempts` counts the processor's retries too. */
export interface CallFailure extends ErrorChain {
  socket?: string;
  socket_id?: string;
  message_id?: string;
  error: string;
  error_type?: string;
  traceback?: string;
  attempts?: number;
}

export interface SendAnswer {
  id: string;
  results?: unknown[];
  error?: CallFailure | string;
}

/** A call in a trace tree (GET /api/calls/{id}/graph): the API's call, less what the tree leaves out, plus its
 * children. */
export interface CallNode
  extends Omit<Schemas["Call"], "flow" | "stdout" | "stderr" | "status" | "input" | "args" | "output">, ErrorChain {
  /** Schemas["CallStatusEnum"]; "cached": a pure socket's result taken from its memo (the function did not run). */
  status: string;
  /** The payload it was called with and what it returned, as JSON text cut at the server's preview size (a cut
   * preview ends with "…"); "" when not kept. `args`: the extra positional args after the payload, a JSON list
   * (`call("divide", 5, 4)`: input 5, args [4]); "" when there were none. */
  input?: string;
  args?: string;
  output?: string;
  children: CallNode[];
}

/** One run of a flow (GET /api/flows/{id}/runs/): a message sent in, and everything it caused. */
export interface RunRow {
  trace_id: string;
  root_id: string;
  socket: string | null;
  socket_name: string;
  /** `handled`: a call failed and an error plug took its error (neither a failure of the run nor a plain success). */
  status: "succeeded" | "handled" | "failed" | "running";
  started_at: string | null;
  finished_at: string | null;
  duration_ms: number | null;
  calls: number;
  failed_calls: number;
  handled_calls: number;
  /** The message sent in, JSON as kept with lineage; cut (ends with "…") when larger than the preview size. */
  input: string;
}

export interface CallTree {
  trace_id: string;
  calls: number;
  roots: CallNode[];
}

export interface QueueRow {
  id: string;
  name: string;
  max_length: number | null;
}

export interface Peek {
  queue: string;
  depth: number;
  messages: Record<string, unknown>[];
}

export interface DeadLetter extends ErrorChain {
  envelope: Record<string, unknown> & { id: string };
  error?: string;
  traceback?: string;
  socket?: string;
  [key: string]: unknown;
}

// The cluster (backend/cluster/api.py).

export interface NodeRow {
  id: string;
  name: string;
  hostname: string;
  cpus: number;
  memory_mb: number;
  status: string;
  last_heartbeat: string | null;
  created_at: string;
}

export interface AgentRow {
  id: string;
  name: string;
  node: string;
  pid: number | null;
  version: string;
  status: string;
  last_heartbeat: string | null;
  created_at: string;
}

export interface WorkerRow {
  id: string;
  name: string;
  processor: string;
  agent: string;
  concurrency: number;
  status: string;
  pid: number | null;
  started_at: string | null;
  last_heartbeat: string | null;
}

// Metrics history (per-minute rollups): start/end in epoch seconds, step a multiple of 60, at most 2,000 points.

export interface MetricsRange {
  start: number;
  end: number;
  step: number;
}

export interface MetricsPoint {
  /** Epoch seconds: the start of the step. */
  t: number;
  in: number;
  out: number;
  errors: number;
  bytes_in: number;
  bytes_out: number;
  time_ms: number;
  time_avg_ms: number | null;
  time_max_ms: number | null;
  p50_ms: number | null;
  p95_ms: number | null;
  held_ms: number;
  depth_max: number | null;
}

export interface MetricsSeries extends MetricsRange {
  scope: { kind: "flow" | "processor" | "socket" | string; id: string; name: string };
  points: MetricsPoint[];
}

export interface FlowsMetrics extends MetricsRange {
  flows: { id: string; name: string; points: MetricsPoint[] }[];
}

export interface SocketRankRow {
  socket_id: string;
  socket: string;
  processor_id: string;
  flow_id: string;
  flow: string;
  value: number;
}
