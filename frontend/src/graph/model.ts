// Graph documents (the REST API's GET/PUT /api/flows/{id}/graph) <-> the canvas's nodes and edges, and the
// rules a connection must pass. Pure functions: the stores call them, Vitest tests them.
import { MarkerType, type Connection, type Edge, type Node } from "@xyflow/react";
import type { GraphDoc, PlugDoc, PlugKind, ProcessorDoc, ProcessorInput, SocketDoc, SocketInput } from "../api/types";
import { MSG } from "../messages";

export type ProcessorFields = Omit<ProcessorDoc, "position">;
export type ProcessorData = { processor: ProcessorFields };
// `loop`: the plug lies on a cycle of plugs (messages can come round again); set for display by markLoops.
export type PlugData = { plug: PlugDoc; loop?: boolean };
export type ProcessorNode = Node<ProcessorData, "processor">;
export type PlugEdge = Edge<PlugData>;

export const NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,199}$/;
const GRID = { x: 320, y: 200, columns: 6 };

export const inHandle = (socketId: string) => `in:${socketId}`;
export const outHandle = (kind: PlugKind, socketId: string) => `${kind}:${socketId}`;

export function parseHandle(handle: string | null | undefined): { side: "in" | PlugKind; socket: string } | null {
  const match = handle?.match(/^(in|result|error):(.+)$/);
  return match ? { side: match[1] as "in" | PlugKind, socket: match[2] } : null;
}

export function newId(): string {
  return crypto.randomUUID();
}

/** Every plug ends in an arrowhead at its target, so its direction reads without knowing the card's sides. */
export const PLUG_ARROW = { type: MarkerType.ArrowClosed, width: 16, height: 16 } as const;

export function plugEdge(plug: PlugDoc, owner: Map<string, string>, names?: Map<string, string>): PlugEdge | null {
  const source = owner.get(plug.source);
  const target = owner.get(plug.target);
  if (!source || !target) return null;
  return {
    id: plug.id,
    type: "plug", // components/PlugEdge.tsx: the bezier plus the live depth of the target's queue
    source,
    target,
    sourceHandle: outHandle(plug.kind, plug.source),
    targetHandle: inHandle(plug.target),
    data: { plug },
    className: plug.kind === "error" ? "plug-error" : "plug-result",
    label: plug.argument ? `→ ${plug.argument}` : undefined,
    markerEnd: { ...PLUG_ARROW, color: plug.kind === "error" ? "#c0262d" : "#475467" },
    ariaLabel: names ? plugLabel(plug, names) : undefined,
  };
}

/** What a screen reader (and a test) calls the plug: its kind, name and the names of the sockets it joins. */
export function plugLabel(plug: PlugDoc, names: Map<string, string>): string {
  return `${plug.kind} plug ${plug.name}: ${names.get(plug.source) ?? plug.source} → ${names.get(plug.target) ?? plug.target}`;
}

/** Socket id -> id of the processor (node) that owns it. */
export function socketOwners(nodes: ProcessorNode[]): Map<string, string> {
  const owner = new Map<string, string>();
  for (const node of nodes) for (const socket of node.data.processor.sockets) owner.set(socket.id, node.id);
  return owner;
}

/** Grid slots (left to right, then down) that no card with a saved position covers: where processors without a
 * position go (found by a newcomer: one added with the CLI landed on top of another and hid it). */
export function freeGridSlots(placed: { x: number; y: number; sockets: number }[], count: number): { x: number; y: number }[] {
  const width = 260;
  const height = (sockets: number) => 90 + 45 * Math.max(1, sockets);
  const taken = (x: number, y: number) =>
    placed.some((p) => x < p.x + width && p.x < x + width && y < p.y + height(p.sockets) && p.y < y + GRID.y - 20);
  const slots: { x: number; y: number }[] = [];
  for (let i = 0; slots.length < count && i < 100_000; i++) {
    const x = (i % GRID.columns) * GRID.x;
    const y = Math.floor(i / GRID.columns) * GRID.y;
    if (!taken(x, y)) slots.push({ x, y });
  }
  return slots;
}

/** A new socket for `fn`: not pure, its memo kept for the server's default time. */
export function newSocket(name: string, fn: string): SocketDoc {
  return { id: newId(), name, function: fn, pure: false, memo_ttl: null };
}

/** A socket as the canvas holds it: a document from before memoization (no `pure`, no `memo_ttl`) loads as not pure. */
export function withSocketDefaults(socket: SocketDoc): SocketDoc {
  return { ...socket, pure: socket.pure ?? false, memo_ttl: socket.memo_ttl ?? null };
}

export function toCanvas(doc: GraphDoc): { nodes: ProcessorNode[]; edges: PlugEdge[] } {
  const placed = doc.processors
    .filter((proc) => proc.position)
    .map((proc) => ({ ...proc.position!, sockets: proc.sockets.length }));
  const slots = freeGridSlots(placed, doc.processors.length - placed.length);
  const nodes: ProcessorNode[] = doc.processors.map((proc) => {
    const { position, ...processor } = proc;
    return {
      id: proc.id,
      type: "processor",
      position: position ?? slots.shift()!,
      data: { processor: { ...processor, sockets: processor.sockets.map(withSocketDefaults) } },
    };
  });
  const owner = socketOwners(nodes);
  const names = socketNameMap(nodes);
  const edges = doc.plugs.map((plug) => plugEdge(plug, owner, names)).filter((e): e is PlugEdge => e !== null);
  return { nodes, edges };
}

/** The processor fields the PUT carries, checked against the API's schema: a field the server adds to a
 * processor (ProcessorFieldsSerializer) is a type error below until it is listed here (or said not to be sent). */
const PROCESSOR_INPUT = [
  "id",
  "name",
  "git_url",
  "ref",
  "module",
  "subdirectory",
  "requirements",
  "concurrency",
  "autoscale_max",
  "replicas",
  "replicas_max",
  "node",
  "scheduler",
  "retries",
  "time_limit",
  "rate_limit",
] as const;
type Unlisted = Exclude<keyof ProcessorInput, (typeof PROCESSOR_INPUT)[number] | "position" | "sockets">;
const everyProcessorField: [Unlisted] extends [never] ? true : { missing: Unlisted } = true;
void everyProcessorField;

/** The socket fields the PUT carries, checked against the API's schema as the processor's are: a field the server
 * adds to a socket (SocketFieldsSerializer) is a type error below until it is listed here (or said not to be sent:
 * `arguments` the server reads from the code). */
const SOCKET_INPUT = ["id", "name", "function", "queue", "schedule", "max_queue_length", "pure", "memo_ttl"] as const;
type UnlistedSocket = Exclude<keyof SocketInput, (typeof SOCKET_INPUT)[number] | "arguments">;
const everySocketField: [UnlistedSocket] extends [never] ? true : { missing: UnlistedSocket } = true;
void everySocketField;

function socketInput(socket: SocketDoc): Record<string, unknown> {
  const out: Record<string, unknown> = { id: socket.id, name: socket.name, function: socket.function };
  if (socket.queue && !socket.queue.startsWith("q.")) out.queue = socket.queue;
  if (socket.schedule !== undefined && socket.schedule !== null) out.schedule = socket.schedule;
  if (socket.max_queue_length !== undefined && socket.max_queue_length !== null)
    out.max_queue_length = socket.max_queue_length;
  // Always said, so a save (and the server's merge of a stale one) never mistakes a missing field for a change.
  out.pure = Boolean(socket.pure);
  out.memo_ttl = socket.memo_ttl ?? null;
  return out;
}

/** The PUT body: what the canvas holds now, against the version it was loaded at. */
export function toDocument(
  base: Pick<GraphDoc, "version" | "name" | "description" | "layout">,
  nodes: ProcessorNode[],
  edges: PlugEdge[],
): Record<string, unknown> {
  const { processors: _positions, ...layout } = base.layout as Record<string, unknown>;
  return {
    version: base.version,
    name: base.name,
    description: base.description,
    layout,
    processors: nodes.map((node) => {
      const proc = node.data.processor as unknown as Record<string, unknown>;
      const out: Record<string, unknown> = {};
      for (const key of PROCESSOR_INPUT) if (proc[key] !== undefined && proc[key] !== null) out[key] = proc[key];
      out.id = node.id;
      out.position = { x: Math.round(node.position.x), y: Math.round(node.position.y) };
      out.sockets = node.data.processor.sockets.map(socketInput);
      return out;
    }),
    plugs: edges.map((edge) => {
      const { id, name, source, target, kind, argument } = edge.data!.plug;
      return { id, name, source, target, kind, argument };
    }),
  };
}

/** Why this connection may not become a plug, or null when it may. */
export function connectionProblem(
  connection: Connection,
  nodes: ProcessorNode[],
  edges: PlugEdge[],
  readOnly: boolean,
): string | null {
  if (readOnly) return MSG.connect.readOnly;
  const from = parseHandle(connection.sourceHandle);
  const to = parseHandle(connection.targetHandle);
  if (!from || from.side === "in") return MSG.connect.notOutput;
  if (!to || to.side !== "in") return MSG.connect.notInput;
  const owner = socketOwners(nodes);
  if (!owner.has(from.socket) || !owner.has(to.socket)) return MSG.connect.noSocket;
  const names = socketNameMap(nodes);
  const [a, b] = [names.get(from.socket)!, names.get(to.socket)!];
  // The server refuses these too (a plug may not run from a socket to itself); said here, as it is drawn.
  if (from.socket === to.socket) return MSG.connect.self(a);
  const kind = from.side;
  const duplicate = edges.some(
    (e) => e.data?.plug.source === from.socket && e.data.plug.target === to.socket && e.data.plug.kind === kind,
  );
  return duplicate ? MSG.connect.duplicate(kind, a, b) : null;
}

/** Socket id -> its name. */
export function socketNameMap(nodes: ProcessorNode[]): Map<string, string> {
  return new Map(nodes.flatMap((n) => n.data.processor.sockets.map((s) => [s.id, s.name] as const)));
}

/** Ids of the plugs that lie on a cycle (socket → … → the same socket), by Tarjan's strongly connected
 * components over the sockets: a plug is on a cycle when both its ends are in one component. Linear in plugs. */
export function loopPlugs(edges: PlugEdge[]): Set<string> {
  const next = new Map<string, string[]>();
  for (const e of edges) {
    const { source, target } = e.data!.plug;
    next.set(source, [...(next.get(source) ?? []), target]);
  }
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const component = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  let counter = 0;
  let components = 0;
  // Iterative, so a long chain of plugs cannot overflow the call stack.
  for (const root of next.keys()) {
    if (index.has(root)) continue;
    const work: [string, number][] = [[root, 0]];
    while (work.length) {
      const frame = work[work.length - 1];
      const [v, i] = frame;
      if (i === 0) {
        index.set(v, counter);
        low.set(v, counter++);
        stack.push(v);
        onStack.add(v);
      }
      const targets = next.get(v) ?? [];
      if (i < targets.length) {
        frame[1] = i + 1;
        const w = targets[i];
        if (!index.has(w)) work.push([w, 0]);
        else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
        continue;
      }
      work.pop();
      if (work.length) {
        const parent = work[work.length - 1][0];
        low.set(parent, Math.min(low.get(parent)!, low.get(v)!));
      }
      if (low.get(v) === index.get(v)) {
        let w: string;
        do {
          w = stack.pop()!;
          onStack.delete(w);
          component.set(w, components);
        } while (w !== v);
        components++;
      }
    }
  }
  return new Set(
    edges
      .filter((e) => {
        const { source, target } = e.data!.plug;
        return component.get(source) !== undefined && component.get(source) === component.get(target);
      })
      .map((e) => e.id),
  );
}

/** The edges with `data.loop` and the `plug-loop` class set on those that lie on a cycle; unchanged edges keep
 * their identity, so the canvas re-renders only the ones whose state changed. */
export function markLoops(edges: PlugEdge[]): PlugEdge[] {
  const loops = loopPlugs(edges);
  return edges.map((e) => {
    const loop = loops.has(e.id);
    if (Boolean(e.data?.loop) === loop) return e;
    const className = (e.className ?? "").replace(/\s*plug-loop/g, "") + (loop ? " plug-loop" : "");
    return { ...e, className, data: { ...e.data!, loop } };
  });
}

/** The names of the sockets on a cycle through `plug` (its target back round to its source), or null. */
export function loopThrough(plug: PlugDoc, edges: PlugEdge[], nodes: ProcessorNode[]): string[] | null {
  const next = new Map<string, string[]>();
  for (const e of edges) next.set(e.data!.plug.source, [...(next.get(e.data!.plug.source) ?? []), e.data!.plug.target]);
  const came = new Map<string, string>([[plug.target, ""]]);
  const queue = [plug.target];
  while (queue.length) {
    const v = queue.shift()!;
    if (v === plug.source) {
      const path = [v];
      for (let at = v; came.get(at); at = came.get(at)!) path.unshift(came.get(at)!);
      const names = socketNameMap(nodes);
      return [plug.source, ...path].map((id) => names.get(id) ?? id);
    }
    for (const w of next.get(v) ?? []) if (!came.has(w)) (came.set(w, v), queue.push(w));
  }
  return null;
}

export function uniqueName(wanted: string, taken: Set<string>): string {
  const base = wanted.replace(/[^A-Za-z0-9_.:-]/g, "_").replace(/^[^A-Za-z0-9_]/, "_").slice(0, 180) || "unnamed";
  if (!taken.has(base)) return base;
  for (let i = 2; ; i++) if (!taken.has(`${base}-${i}`)) return `${base}-${i}`;
}

function socketNames(nodes: ProcessorNode[]): Set<string> {
  return new Set(nodes.flatMap((n) => n.data.processor.sockets.map((s) => s.name)));
}

export function plugFromConnection(connection: Connection, nodes: ProcessorNode[], edges: PlugEdge[]): PlugDoc {
  const from = parseHandle(connection.sourceHandle)!;
  const to = parseHandle(connection.targetHandle)!;
  const names = socketNameMap(nodes);
  const kind = from.side as PlugKind;
  const wanted = `${names.get(from.socket)}${kind === "error" ? "-error" : ""}-to-${names.get(to.socket)}`;
  const taken = new Set(edges.map((e) => e.data!.plug.name));
  return { id: newId(), name: uniqueName(wanted, taken), source: from.socket, target: to.socket, kind, argument: "" };
}

export function blankProcessor(nodes: ProcessorNode[], position: { x: number; y: number }): ProcessorNode {
  const name = uniqueName("processor", new Set(nodes.map((n) => n.data.processor.name)));
  const id = newId();
  return {
    id,
    type: "processor",
    position,
    selected: true,
    data: {
      processor: {
        id,
        name,
        git_url: "",
        ref: "main",
        module: "",
        subdirectory: "",
        requirements: "",
        concurrency: 1,
        autoscale_max: 0,
        replicas: 1,
        replicas_max: 0,
        node: "",
        scheduler: "",
        retries: 3,
        time_limit: 300,
        rate_limit: "",
        status: "stopped",
        requested_status: "stopped",
        status_message: "",
        sockets: [],
      },
    },
  };
}

export interface Clipboard {
  nodes: ProcessorNode[];
  edges: PlugEdge[];
}

/** The selected processors and the plugs among them. */
export function copySelection(nodes: ProcessorNode[], edges: PlugEdge[]): Clipboard | null {
  const picked = nodes.filter((n) => n.selected);
  if (picked.length === 0) return null;
  const ids = new Set(picked.map((n) => n.id));
  return { nodes: picked, edges: edges.filter((e) => ids.has(e.source) && ids.has(e.target)) };
}

/** Where a card is on the canvas, with its size as measured (estimated from its sockets before it is). */
export function cardBox(n: ProcessorNode): { x: number; y: number; width: number; height: number } {
  return {
    x: n.position.x,
    y: n.position.y,
    width: n.measured?.width ?? 240,
    height: n.measured?.height ?? 64 + 28 * Math.max(1, n.data.processor.sockets.length),
  };
}

/** The first diagonal step (40, 80, … px) at which the copied cards overlap no card on the canvas (found by a
 * designer: a paste landed on top of the cards); below everything when none is free. */
export function pasteOffset(clip: ProcessorNode[], nodes: ProcessorNode[]): { x: number; y: number } {
  const boxes = nodes.map(cardBox);
  const overlaps = (a: ReturnType<typeof cardBox>) =>
    boxes.some((b) => a.x < b.x + b.width + 10 && b.x < a.x + a.width + 10 && a.y < b.y + b.height + 10 && b.y < a.y + a.height + 10);
  for (let step = 1; step <= 30; step++) {
    const offset = { x: 40 * step, y: 40 * step };
    if (!clip.some((n) => overlaps({ ...cardBox(n), x: n.position.x + offset.x, y: n.position.y + offset.y }))) return offset;
  }
  const bottom = Math.max(...boxes.map((b) => b.y + b.height));
  const top = Math.min(...clip.map((n) => n.position.y));
  return { x: 0, y: bottom - top + 40 };
}

/** Copies with new ids and names that do not clash, offset so they do not hide the cards on the canvas; selected. */
export function pasteClipboard(
  clip: Clipboard,
  nodes: ProcessorNode[],
  edges: PlugEdge[],
  offset = pasteOffset(clip.nodes, nodes),
): Clipboard {
  const procNames = new Set(nodes.map((n) => n.data.processor.name));
  const sockNames = socketNames(nodes);
  const plugNames = new Set(edges.map((e) => e.data!.plug.name));
  const nodeIds = new Map<string, string>();
  const socketIds = new Map<string, string>();
  const pasted = clip.nodes.map((node) => {
    const id = newId();
    nodeIds.set(node.id, id);
    const name = uniqueName(node.data.processor.name, procNames);
    procNames.add(name);
    const sockets = node.data.processor.sockets.map((s) => {
      const sid = newId();
      socketIds.set(s.id, sid);
      const sname = uniqueName(s.name.startsWith(`${node.data.processor.name}.`)
        ? `${name}.${s.name.slice(node.data.processor.name.length + 1)}`
        : s.name, sockNames);
      sockNames.add(sname);
      return { ...s, id: sid, name: sname, queue: undefined };
    });
    return {
      ...node,
      id,
      selected: true,
      position: { x: node.position.x + offset.x, y: node.position.y + offset.y },
      data: {
        processor: {
          ...node.data.processor,
          id,
          name,
          sockets,
          status: "stopped",
          requested_status: "stopped",
          status_message: "",
          commit: "",
        },
      },
    };
  });
  const names = socketNameMap(pasted);
  const pastedEdges = clip.edges.map((edge) => {
    const plug = edge.data!.plug;
    const name = uniqueName(plug.name, plugNames);
    plugNames.add(name);
    const copy: PlugDoc = {
      ...plug,
      id: newId(),
      name,
      source: socketIds.get(plug.source)!,
      target: socketIds.get(plug.target)!,
    };
    return {
      ...edge,
      id: copy.id,
      source: nodeIds.get(edge.source)!,
      target: nodeIds.get(edge.target)!,
      sourceHandle: outHandle(copy.kind, copy.source),
      targetHandle: inHandle(copy.target),
      selected: true,
      data: { plug: copy },
      ariaLabel: plugLabel(copy, names),
    };
  });
  return { nodes: pasted, edges: pastedEdges };
}

/** Processors whose name, module or a socket matches the text (case-insensitive). */
export function searchNodes(nodes: ProcessorNode[], text: string): string[] {
  const needle = text.trim().toLowerCase();
  if (!needle) return [];
  return nodes
    .filter((n) => {
      const p = n.data.processor;
      return (
        p.name.toLowerCase().includes(needle) ||
        p.module.toLowerCase().includes(needle) ||
        p.sockets.some((s) => s.name.toLowerCase().includes(needle) || s.function.toLowerCase().includes(needle))
      );
    })
    .map((n) => n.id);
}

/** Plugs that lose an end when sockets are removed from a processor. */
export function edgesWithoutSockets(edges: PlugEdge[], nodes: ProcessorNode[]): PlugEdge[] {
  const owner = socketOwners(nodes);
  return edges.filter((e) => owner.has(e.data!.plug.source) && owner.has(e.data!.plug.target));
}
