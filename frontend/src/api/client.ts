// The one typed client of the REST API. Session cookie auth with Django's CSRF token; every failure becomes an
// ApiError whose message says what went wrong and what to do.
import { MSG } from "../messages";
import type {
  AgentRow,
  CallNode,
  CallTree,
  DeadLetter,
  FlowsMetrics,
  FlowSummary,
  GraphDoc,
  Me,
  MetricsRange,
  MetricsSeries,
  ModuleCode,
  NodeRow,
  Page,
  Peek,
  ProcessorRow,
  QueueRow,
  RepositoryModules,
  RunRow,
  ScaleEvent,
  SendAnswer,
  SocketRankRow,
  TrustedRepository,
  WorkerRow,
} from "./types";

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string = "",
    readonly fields: Record<string, string[]> = {},
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/** A delete (or a save that drops sockets) refused because messages still wait for what it removes (409). */
export function messagesWaiting(error: unknown): error is ApiError {
  return error instanceof ApiError && error.status === 409 && typeof error.extra.waiting === "number";
}

export function csrfToken(): string {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

function flattenFields(value: unknown, prefix = "", out: Record<string, string[]> = {}): Record<string, string[]> {
  if (Array.isArray(value) && value.every((v) => typeof v === "string")) {
    out[prefix] = value as string[];
  } else if (value && typeof value === "object") {
    for (const [key, inner] of Object.entries(value)) flattenFields(inner, prefix ? `${prefix}.${key}` : key, out);
  }
  return out;
}

/** This tab, for the server's `saved` notices: a save of ours comes back to us too, and is ignored by this id. */
export const CLIENT_ID = crypto.randomUUID();

export async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      credentials: "same-origin",
      headers: {
        Accept: "application/json",
        ...(body !== undefined ? { "Content-Type": "application/json" } : {}),
        ...(method !== "GET" ? { "X-CSRFToken": csrfToken(), "X-ElasticCode-Client": CLIENT_ID } : {}),
      },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
  } catch {
    throw new ApiError(MSG.network, 0, "network");
  }
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  let data: unknown = undefined;
  try {
    data = text ? JSON.parse(text) : undefined;
  } catch {
    data = undefined;
  }
  if (response.ok) return data as T;
  const error = (data as { error?: { code?: string; message?: string; fields?: unknown } } | undefined)?.error;
  if (response.status === 401 || (response.status === 403 && error?.code === "not_authenticated")) {
    throw new ApiError(MSG.sessionExpired, response.status, "not_authenticated");
  }
  const message = error?.message ?? (response.status >= 500 ? MSG.serverError(response.status) : text.slice(0, 300));
  const extra = { ...(error as Record<string, unknown> | undefined) };
  throw new ApiError(message, response.status, error?.code ?? "", flattenFields(error?.fields), extra);
}

const q = encodeURIComponent;
const range = (r: MetricsRange) => `start=${Math.floor(r.start)}&end=${Math.floor(r.end)}&step=${r.step}`;

export const api = {
  me: () => request<Me>("GET", "/api/users/me/"),
  flows: () => request<Page<FlowSummary>>("GET", "/api/flows/?limit=1000"),
  flowCreate: (name: string, description = "") => request<FlowSummary>("POST", "/api/flows/", { name, description }),
  flowRename: (id: string, name: string, version: number) =>
    request<FlowSummary>("PATCH", `/api/flows/${id}/`, { name, version }),
  flow: (id: string) => request<FlowSummary>("GET", `/api/flows/${id}/`),
  // Flow-level settings (a chaos drill: only its owner may change it, others get 403).
  flowUpdate: (id: string, patch: Pick<FlowSummary, "chaos">) => request<FlowSummary>("PATCH", `/api/flows/${id}/`, patch),
  flowDelete: (id: string, force = false) => request<void>("DELETE", `/api/flows/${id}/${force ? "?force=true" : ""}`),
  flowExport: (id: string) => request<Record<string, unknown>>("GET", `/api/flows/${id}/export/`),
  flowImport: (document: unknown, name?: string) =>
    request<GraphDoc>("POST", "/api/flows/import/", name ? { document, name } : { document }),
  graph: (id: string) => request<GraphDoc>("GET", `/api/flows/${id}/graph/`),
  graphSave: (id: string, doc: unknown, force = false) =>
    request<GraphDoc>("PUT", `/api/flows/${id}/graph/${force ? "?force=true" : ""}`, doc),
  flowAction: (id: string, action: string) =>
    request<{ processors: ProcessorRow[] }>("POST", `/api/flows/${id}/${action}/`),
  discover: (flowId: string, config: { git_url: string; ref: string; module: string; subdirectory: string }) =>
    request<ModuleCode>("POST", `/api/flows/${flowId}/discover/`, config),
  // A trusted repository's modules at `ref` (its default branch when empty).
  modules: (flowId: string, git_url: string, ref = "") =>
    request<RepositoryModules>("POST", `/api/flows/${flowId}/modules/`, ref ? { git_url, ref } : { git_url }),
  trustedRepositories: () => request<TrustedRepository[]>("GET", "/api/repositories/"),
  processorCode: (id: string, fn?: string) =>
    request<ModuleCode>("GET", `/api/processors/${id}/code/${fn ? `?function=${q(fn)}` : ""}`),
  processors: (flowId: string) => request<Page<ProcessorRow>>("GET", `/api/processors/?flow=${flowId}&limit=1000`),
  processorAction: (id: string, action: string) => request<ProcessorRow>("POST", `/api/processors/${id}/${action}/`),
  // With `wait`, the answer (or 504 after that many seconds); without, 202 {id} at once.
  send: (socketId: string, data: unknown, wait?: number) =>
    request<SendAnswer>("POST", `/api/sockets/${socketId}/messages/${wait === undefined ? "" : `?wait=${wait}`}`, { data }),
  runs: (flowId: string, status?: string) =>
    request<{ runs: RunRow[] }>("GET", `/api/flows/${flowId}/runs/${status ? `?status=${q(status)}` : ""}`),
  trace: (callId: string) => request<CallTree>("GET", `/api/calls/${callId}/graph/`),
  // The latest calls of a flow with a status (newest first): e.g. the retries while a test message waits.
  flowCalls: (flowId: string, status: string, limit = 5) =>
    request<Page<CallNode>>("GET", `/api/calls/?flow=${flowId}&status=${q(status)}&limit=${limit}`),
  queueByName: (name: string) => request<Page<QueueRow>>("GET", `/api/queues/?name=${q(name)}`),
  peek: (queueId: string, limit = 20) => request<Peek>("GET", `/api/queues/${queueId}/messages/?limit=${limit}`),
  deadLetters: (queueId: string) =>
    request<{ count: number; results: DeadLetter[] }>("GET", `/api/queues/${queueId}/dead-letters/?limit=100`),
  replay: (queueId: string, ids?: string[]) =>
    request<{ replayed: string[] }>("POST", `/api/queues/${queueId}/dead-letters/replay/`, ids ? { ids } : {}),
  allProcessors: () => request<Page<ProcessorRow>>("GET", "/api/processors/?limit=1000"),
  nodes: () => request<Page<NodeRow>>("GET", "/api/nodes/?limit=1000"),
  schedulers: () => request<Page<{ id: string; name: string; nodes: string[] }>>("GET", "/api/schedulers/?limit=1000"),
  agents: () => request<Page<AgentRow>>("GET", "/api/agents/?limit=1000"),
  // The autoscaler's latest decisions, newest first (of the processors you may see).
  scaleEvents: (limit = 20) => request<Page<ScaleEvent>>("GET", `/api/scale-events/?limit=${limit}`),
  workers: () => request<Page<WorkerRow>>("GET", "/api/workers/?limit=1000"),
  // Metrics history: per-minute rollups summed into `step`-second points.
  flowMetrics: (id: string, r: MetricsRange) => request<MetricsSeries>("GET", `/api/flows/${id}/metrics?${range(r)}`),
  processorMetrics: (id: string, r: MetricsRange) =>
    request<MetricsSeries>("GET", `/api/processors/${id}/metrics?${range(r)}`),
  socketMetrics: (id: string, r: MetricsRange) => request<MetricsSeries>("GET", `/api/sockets/${id}/metrics?${range(r)}`),
  flowsMetrics: (r: MetricsRange) => request<FlowsMetrics>("GET", `/api/metrics/flows?${range(r)}`),
  topSockets: (r: Pick<MetricsRange, "start" | "end">, by: "errors" | "p95", limit = 10) =>
    request<{ sockets: SocketRankRow[] }>(
      "GET",
      `/api/metrics/top-sockets?start=${Math.floor(r.start)}&end=${Math.floor(r.end)}&by=${by}&limit=${limit}`,
    ),
};
