// The flow being edited: nodes and edges as the canvas holds them, the version they were loaded at, undo/redo
// history and whether there is anything unsaved. Save is one PUT of the whole graph; a stale version is reported
// and never overwritten.
import {
  applyEdgeChanges,
  applyNodeChanges,
  type Connection,
  type EdgeChange,
  type NodeChange,
} from "@xyflow/react";
import { create } from "zustand";
import { api, ApiError, CLIENT_ID, messagesWaiting } from "../api/client";
import type { GraphDoc, Rights, SocketDoc } from "../api/types";
import {
  blankProcessor,
  connectionProblem,
  copySelection,
  edgesWithoutSockets,
  newSocket,
  pasteClipboard,
  plugEdge,
  plugFromConnection,
  socketNameMap,
  socketOwners,
  toCanvas,
  toDocument,
  uniqueName,
  type Clipboard,
  type PlugEdge,
  type ProcessorFields,
  type ProcessorNode,
} from "../graph/model";
import type { PaletteItem } from "../components/Palette";
import { MSG } from "../messages";
import { useStatus } from "./status";
import { useToasts } from "./toasts";

/** An edit the canvas answers when it is undone or redone: a layout moves every card, so the view is fitted again. */
export type NamedEdit = "layout";

interface Snapshot {
  nodes: ProcessorNode[];
  edges: PlugEdge[];
  revision: number;
  // The edit between this snapshot and the next state, when it is one the canvas answers.
  edit?: NamedEdit;
}

const HISTORY = 100;

export interface DesignerState {
  flowId: string | null;
  base: Pick<GraphDoc, "version" | "name" | "description" | "layout"> | null;
  rights: Rights;
  loading: boolean;
  loadError: string;
  saving: boolean;
  saveError: string;
  fieldErrors: Record<string, string[]>;
  stale: { mine: number; theirs?: number; why?: string } | null;
  nodes: ProcessorNode[];
  edges: PlugEdge[];
  savedIds: Set<string>;
  revision: number;
  savedRevision: number;
  past: Snapshot[];
  future: Snapshot[];
  clipboard: Clipboard | null;
  panel: string | null;
  // The socket clicked on the canvas, whose tools (send, peek, dead letters) the panel shows first.
  panelSocket: string | null;
  // Who else has this flow open (presence frames), and a save of theirs made while this tab has unsaved changes.
  others: string[];
  you: string;
  remote: { version: number; by: string } | null;
  // The flow's own settings (GET /api/flows/{id}/, not part of the graph document): a chaos drill's percent of
  // calls failed on purpose (0: off), which only the owner may change.
  chaos: number;
  owner: string;

  load: (flowId: string) => Promise<void>;
  /** Read the flow's own settings (chaos, owner) again. */
  loadFlow: () => Promise<void>;
  /** PATCH the flow's chaos drill; throws the server's refusal (403 for anyone but the owner). */
  setChaos: (percent: number) => Promise<void>;
  adopt: (doc: GraphDoc) => void;
  onNodesChange: (changes: NodeChange<ProcessorNode>[]) => void;
  onEdgesChange: (changes: EdgeChange<PlugEdge>[]) => void;
  dragStart: () => void;
  dragStop: () => void;
  connect: (connection: Connection) => string | null;
  addProcessor: (position: { x: number; y: number }) => string | null;
  /** A processor configured from a palette item, with a socket for its function, near `position`. */
  addFunction: (item: PaletteItem, position: { x: number; y: number }) => string | null;
  updateProcessor: (id: string, patch: Partial<ProcessorFields>) => void;
  setSockets: (id: string, sockets: SocketDoc[]) => void;
  updatePlug: (id: string, patch: { argument?: string; name?: string }) => void;
  deleteSelected: () => void;
  selectAll: () => void;
  select: (ids: string[]) => void;
  copy: () => number;
  /** Ids of the pasted processors (none when there is nothing to paste). */
  paste: () => string[];
  /** Both return the edit undone or redone when it is a named one (a layout), so the canvas can answer it. */
  undo: () => NamedEdit | null;
  redo: () => NamedEdit | null;
  setPositions: (positions: Record<string, { x: number; y: number }>) => void;
  openPanel: (id: string | null, socketId?: string | null) => void;
  setOthers: (others: string[], you: string) => void;
  /** Someone saved version `version`: a clean tab loads it at once; one with unsaved changes is told (banner). */
  remoteSaved: (version: number, by: string, client: string) => void;
  /** `force`: drop sockets even with messages waiting (they go to the owner's dead-letter archive). */
  save: (force?: boolean) => Promise<boolean>;
}

/** The first spot at or below `wanted` where a new processor does not cover another one. */
const CLEARANCE = 80;

export function freeSpot(nodes: ProcessorNode[], wanted: { x: number; y: number }): { x: number; y: number } {
  // Clear of each card by CLEARANCE: the plugs that go round a card run in that band (graph/route.ts), and a card
  // put there would hide them (found by a newcomer).
  const spot = { ...wanted };
  const covers = (n: ProcessorNode) =>
    Math.abs(n.position.x - spot.x) < (n.measured?.width ?? 240) + CLEARANCE &&
    spot.y < n.position.y + (n.measured?.height ?? 100) + CLEARANCE &&
    n.position.y < spot.y + 100 + CLEARANCE;
  for (let i = 0; i < 200; i++) {
    const hit = nodes.find(covers);
    if (!hit) break;
    spot.y = hit.position.y + (hit.measured?.height ?? 100) + CLEARANCE;
  }
  return spot;
}

const NO_RIGHTS: Rights = { change: false, delete: false, reason: "" };

export const useDesigner = create<DesignerState>((set, get) => {
  /** The version this tab's own flow PATCH (setChaos) is making, while it is under way. */
  let ownBump: number | null = null;

  /** Apply a change that the user can undo and that makes the flow unsaved. */
  function commit(next: Partial<Pick<DesignerState, "nodes" | "edges">>, edit?: NamedEdit): void {
    const { nodes, edges, revision, past } = get();
    set({
      past: [...past, { nodes, edges, revision, edit }].slice(-HISTORY),
      future: [],
      ...next,
      revision: revision + 1,
    });
  }

  function readOnly(): boolean {
    return !get().rights.change;
  }

  return {
    flowId: null,
    base: null,
    rights: NO_RIGHTS,
    loading: false,
    loadError: "",
    saving: false,
    saveError: "",
    fieldErrors: {},
    stale: null,
    nodes: [],
    edges: [],
    savedIds: new Set(),
    revision: 0,
    savedRevision: 0,
    past: [],
    future: [],
    clipboard: null,
    panel: null,
    panelSocket: null,
    others: [],
    you: "",
    remote: null,
    chaos: 0,
    owner: "",

    load: async (flowId) => {
      const other = get().flowId !== flowId;
      set({ flowId, loading: true, loadError: "", nodes: [], edges: [], past: [], future: [], panel: null });
      // Another flow's drill is not this one's; the same flow's stays shown while it is read again.
      if (other) set({ chaos: 0, owner: "" });
      void get().loadFlow();
      try {
        const doc = await api.graph(flowId);
        if (get().flowId !== flowId) return;
        get().adopt(doc);
        useStatus.getState().set(
          doc.processors.map((p) => ({
            id: p.id,
            name: p.name,
            status: p.status ?? "stopped",
            requested_status: p.requested_status ?? "stopped",
            status_message: p.status_message ?? "",
            commit: p.commit ?? "",
          })),
        );
      } catch (error) {
        const message =
          error instanceof ApiError && error.status === 404 ? MSG.notFound : (error as Error).message;
        set({ loading: false, loadError: message });
      }
    },

    loadFlow: async () => {
      const flowId = get().flowId;
      if (!flowId) return;
      try {
        const flow = await api.flow(flowId);
        if (get().flowId === flowId) set({ chaos: flow.chaos ?? 0, owner: flow.owner ?? "" });
      } catch {
        // The graph's own load says what is wrong; without the flow's settings there is only no chaos banner.
      }
    },

    setChaos: async (percent) => {
      const { flowId, base } = get();
      if (!flowId || !base) return;
      // The PATCH bumps the flow's version and its `saved` notice names no saving tab: that one is this tab's own.
      ownBump = base.version + 1;
      try {
        const flow = await api.flowUpdate(flowId, { chaos: percent });
        if (get().flowId !== flowId) return;
        set({ chaos: flow.chaos ?? percent });
        // Only this change came in between: the graph in hand is still the saved one, at the new version (or the
        // next Save would be refused as stale). Anything more is someone else's save, told by its own notice.
        const now = get().base;
        if (now && flow.version === now.version + 1) set({ base: { ...now, version: flow.version } });
      } finally {
        ownBump = null;
      }
    },

    adopt: (doc) => {
      const { nodes, edges } = toCanvas(doc);
      const revision = get().revision + 1;
      set({
        base: { version: doc.version, name: doc.name, description: doc.description, layout: doc.layout },
        remote: (get().remote?.version ?? 0) > doc.version ? get().remote : null,
        rights: doc.rights ?? NO_RIGHTS,
        nodes,
        edges,
        savedIds: new Set(doc.processors.map((p) => p.id)),
        revision,
        savedRevision: revision,
        past: [],
        future: [],
        loading: false,
        loadError: "",
        stale: null,
        saveError: "",
        fieldErrors: {},
      });
    },

    onNodesChange: (changes) => {
      // Removals go through deleteSelected (one undo step for nodes and their plugs); the rest are moves,
      // selection and measurements, which are not edits on their own.
      const kept = changes.filter((c) => c.type !== "remove" && c.type !== "add");
      if (readOnly()) {
        const allowed = kept.filter((c) => c.type === "select" || c.type === "dimensions");
        if (allowed.length) set({ nodes: applyNodeChanges(allowed, get().nodes) });
        return;
      }
      if (kept.length) set({ nodes: applyNodeChanges(kept, get().nodes) });
      if (changes.some((c) => c.type === "remove")) get().deleteSelected();
    },

    onEdgesChange: (changes) => {
      const kept = changes.filter((c) => c.type === "select");
      if (kept.length) set({ edges: applyEdgeChanges(kept, get().edges) });
      if (!readOnly() && changes.some((c) => c.type === "remove")) get().deleteSelected();
    },

    dragStart: () => {
      if (readOnly()) return;
      const { nodes, edges, revision, past } = get();
      set({ past: [...past, { nodes, edges, revision }].slice(-HISTORY), future: [] });
    },

    dragStop: () => {
      if (readOnly()) return;
      set({ revision: get().revision + 1 });
    },

    connect: (connection) => {
      const { nodes, edges } = get();
      const problem = connectionProblem(connection, nodes, edges, readOnly());
      if (problem) return problem;
      const plug = plugFromConnection(connection, nodes, edges);
      // Named by its sockets for screen readers, as the saved plugs are (not "Edge from <uuid> to <uuid>").
      const edge = plugEdge(plug, socketOwners(nodes), socketNameMap(nodes));
      if (edge) commit({ edges: [...edges, edge] });
      return null;
    },

    addProcessor: (position) => {
      if (readOnly()) return null;
      const node = blankProcessor(get().nodes, freeSpot(get().nodes, position));
      commit({ nodes: [...get().nodes.map((n) => (n.selected ? { ...n, selected: false } : n)), node] });
      set({ panel: node.id });
      return node.id;
    },

    addFunction: (item, position) => {
      if (readOnly()) return null;
      const { nodes } = get();
      const node = blankProcessor(nodes, freeSpot(nodes, position));
      const name = uniqueName(item.function, new Set(nodes.map((n) => n.data.processor.name)));
      const taken = new Set(nodes.flatMap((n) => n.data.processor.sockets.map((s) => s.name)));
      // `square`, not `square.square`, when the processor is named after its function and no socket has the name
      // (socket names are unique in a flow).
      const wanted = name === item.function && !taken.has(item.function) ? item.function : `${name}.${item.function}`;
      const socket = newSocket(uniqueName(wanted, taken), item.function);
      const { function: _fn, ...config } = item;
      node.data = { processor: { ...node.data.processor, ...config, name, sockets: [socket] } };
      commit({ nodes: [...nodes.map((n) => (n.selected ? { ...n, selected: false } : n)), node] });
      set({ panel: node.id, panelSocket: socket.id });
      return node.id;
    },

    updateProcessor: (id, patch) => {
      if (readOnly()) return;
      commit({
        nodes: get().nodes.map((n) =>
          n.id === id ? { ...n, data: { processor: { ...n.data.processor, ...patch } } } : n,
        ),
      });
    },

    setSockets: (id, sockets) => {
      if (readOnly()) return;
      const nodes = get().nodes.map((n) =>
        n.id === id ? { ...n, data: { processor: { ...n.data.processor, sockets } } } : n,
      );
      commit({ nodes, edges: edgesWithoutSockets(get().edges, nodes) });
    },

    updatePlug: (id, patch) => {
      if (readOnly()) return;
      const owner = socketOwners(get().nodes);
      const names = socketNameMap(get().nodes);
      commit({
        edges: get().edges.map((e) => {
          if (e.id !== id) return e;
          const updated = plugEdge({ ...e.data!.plug, ...patch }, owner, names);
          return updated ? { ...updated, selected: e.selected } : e;
        }),
      });
    },

    deleteSelected: () => {
      if (readOnly()) return;
      const { nodes, edges, panel } = get();
      const gone = new Set(nodes.filter((n) => n.selected).map((n) => n.id));
      const keptEdges = edges.filter((e) => !e.selected && !gone.has(e.source) && !gone.has(e.target));
      if (gone.size === 0 && keptEdges.length === edges.length) return;
      commit({ nodes: nodes.filter((n) => !gone.has(n.id)), edges: keptEdges });
      if (panel && gone.has(panel)) set({ panel: null });
    },

    selectAll: () => set({ nodes: get().nodes.map((n) => ({ ...n, selected: true })) }),

    select: (ids) => {
      const wanted = new Set(ids);
      set({
        nodes: get().nodes.map((n) => (n.selected === wanted.has(n.id) ? n : { ...n, selected: wanted.has(n.id) })),
      });
    },

    copy: () => {
      const clip = copySelection(get().nodes, get().edges);
      if (clip) set({ clipboard: clip });
      return clip?.nodes.length ?? 0;
    },

    paste: () => {
      const { clipboard, nodes, edges } = get();
      if (!clipboard || readOnly()) return [];
      const pasted = pasteClipboard(clipboard, nodes, edges);
      commit({
        nodes: [...nodes.map((n) => (n.selected ? { ...n, selected: false } : n)), ...pasted.nodes],
        edges: [...edges.map((e) => (e.selected ? { ...e, selected: false } : e)), ...pasted.edges],
      });
      // A second paste lands beside the first, not on top of it.
      set({ clipboard: { nodes: pasted.nodes, edges: pasted.edges } });
      return pasted.nodes.map((n) => n.id);
    },

    undo: () => {
      const { past, future, nodes, edges, revision } = get();
      const last = past[past.length - 1];
      if (!last || readOnly()) return null;
      const { edit, ...state } = last;
      set({ ...state, past: past.slice(0, -1), future: [{ nodes, edges, revision, edit }, ...future] });
      return edit ?? null;
    },

    redo: () => {
      const { past, future, nodes, edges, revision } = get();
      const next = future[0];
      if (!next || readOnly()) return null;
      const { edit, ...state } = next;
      set({ ...state, future: future.slice(1), past: [...past, { nodes, edges, revision, edit }] });
      return edit ?? null;
    },

    setPositions: (positions) => {
      if (readOnly()) return;
      commit({ nodes: get().nodes.map((n) => (positions[n.id] ? { ...n, position: positions[n.id] } : n)) }, "layout");
    },

    openPanel: (id, socketId = null) => set({ panel: id, panelSocket: id ? socketId : null }),

    setOthers: (others, you) => set({ others, you }),

    remoteSaved: (version, by, client) => {
      const { base, flowId, saving } = get();
      if (client === CLIENT_ID || !base || !flowId || version <= base.version) return;
      if (!by && !client && version === ownBump) return; // this tab's chaos change (setChaos), not a graph save
      const who = !by ? "Someone" : by === get().you ? "You (in another tab)" : by;
      if (saving || selectDirty(get())) {
        set({ remote: { version, by: who } });
        void get().loadFlow(); // a chaos drill started or stopped elsewhere shows at once
        return;
      }
      void get()
        .load(flowId)
        .then(() => useToasts.getState().push("info", MSG.remoteLoaded(who, version)));
    },

    save: async (force = false) => {
      const { flowId, base, nodes, edges, revision } = get();
      if (!flowId || !base || readOnly()) return false;
      set({ saving: true, saveError: "", fieldErrors: {} });
      try {
        const doc = await api.graphSave(flowId, toDocument(base, nodes, edges), force);
        // Take the server's version, ids and queue names; keep selection and history. Edits made while the
        // request was in flight stay (and stay unsaved).
        const saved = { version: doc.version, name: doc.name, description: doc.description, layout: doc.layout };
        if (get().revision === revision) {
          const selected = new Set(get().nodes.filter((n) => n.selected).map((n) => n.id));
          const selectedEdges = new Set(get().edges.filter((e) => e.selected).map((e) => e.id));
          const canvas = toCanvas(doc);
          set({
            nodes: canvas.nodes.map((n) => (selected.has(n.id) ? { ...n, selected: true } : n)),
            edges: canvas.edges.map((e) => (selectedEdges.has(e.id) ? { ...e, selected: true } : e)),
          });
        }
        set({
          base: saved,
          savedIds: new Set(doc.processors.map((p) => p.id)),
          savedRevision: revision,
          saving: false,
          stale: null,
          remote: null,
        });
        // New processors have run states now ("stopped"): no more "new" badges (found by a newcomer).
        void useStatus.getState().refresh(flowId);
        return true;
      } catch (error) {
        if (messagesWaiting(error)) {
          // Removed sockets still have messages: the user decides, with the server's count in front of them.
          set({ saving: false });
          if (!force && window.confirm(MSG.dropWaiting(error.message))) return get().save(true);
          set({ saveError: error.message });
        } else if (error instanceof ApiError && error.status === 409) {
          const theirs = error.extra.current_version as number | undefined;
          // The server's words name what both changed when the two saves overlap (flows/services/merge.py); who
          // saved is known here when that save's notice came (the same user in another tab is not "someone else").
          const remote = get().remote;
          const why = remote && (theirs === undefined || remote.version === theirs)
            ? MSG.staleBy(error.message, remote.by)
            : error.message;
          set({ saving: false, stale: { mine: base.version, theirs, why }, saveError: why });
        } else {
          const fields = error instanceof ApiError ? error.fields : {};
          set({ saving: false, saveError: (error as Error).message, fieldErrors: fields });
        }
        return false;
      }
    },
  };
});

export const selectDirty = (s: DesignerState) => s.revision !== s.savedRevision;
export const selectReadOnly = (s: DesignerState) => !s.rights.change;
