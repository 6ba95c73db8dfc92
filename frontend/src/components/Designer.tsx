// The flow designer: the canvas, its toolbar, and the panel of the selected processor or plug.
import {
  Background,
  Controls,
  MiniMap,
  ReactFlow,
  ReactFlowProvider,
  useNodesInitialized,
  useReactFlow,
  type Connection,
  type Edge,
  type FinalConnectionState,
  type EdgeTypes,
  type NodeTypes,
} from "@xyflow/react";
import "@xyflow/react/dist/style.css";
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { api } from "../api/client";
import { ChaosBanner, ChaosControl } from "./Chaos";
import { downloadJson } from "./download";
import { layout } from "../graph/layout";
import { connectionProblem, loopThrough, markLoops, searchNodes, toDocument } from "../graph/model";
import { MSG } from "../messages";
import { navigate, setLeaveGuard } from "../router";
import { selectDirty, selectReadOnly, useDesigner } from "../stores/designer";
import { useSearch } from "../stores/search";
import { flowPath, useFlowLive } from "../live/flow";
import { useStatus } from "../stores/status";
import { closeTaps, useTaps } from "../stores/taps";
import { notifyError, notifyInfo } from "../stores/toasts";
import { Help } from "./Help";
import { LiveClosedBanner, LiveDot } from "./LiveState";
import { PlugEdgeComponent } from "./PlugEdge";
import { PlugPanel } from "./PlugPanel";
import { RunsPanel } from "./RunsPanel";
import { TapPanel } from "./TapPanel";
import { PALETTE_TYPE, Palette, type PaletteItem } from "./Palette";
import { Presence } from "./Presence";
import { ProcessorNode } from "./ProcessorNode";
import { ProcessorPanel } from "./ProcessorPanel";
import { useViewport } from "./viewport";

const NODE_TYPES: NodeTypes = { processor: ProcessorNode };
const EDGE_TYPES: EdgeTypes = { plug: PlugEdgeComponent };
// Above this many processors the minimap and the dotted grid start switched off: both are painted again on every
// frame of a pan, and with them a 500-processor flow pans at about 26 fps instead of 38 (docs/benchmarks.md).
export const LARGE_FLOW = 150;
const FLOW_ACTIONS = ["start", "stop", "pause", "resume", "restart"] as const;

function typingIn(target: EventTarget | null): boolean {
  const el = target as HTMLElement | null;
  return !!el && (el.tagName === "INPUT" || el.tagName === "TEXTAREA" || el.tagName === "SELECT" || el.isContentEditable);
}

/** What someone with unsaved changes may do once another save came first: keep them in a file, or take theirs. */
function KeepOrReload({ flowId }: { flowId: string }) {
  return (
    <>
      <button type="button" onClick={() => {
        const s = useDesigner.getState();
        if (s.base) downloadJson(`${s.base.name}.unsaved.json`, toDocument(s.base, s.nodes, s.edges));
      }}>
        Export my changes
      </button>{" "}
      <button type="button" onClick={() => {
        if (window.confirm("Discard your unsaved changes and load the saved flow?")) void useDesigner.getState().load(flowId);
      }}>
        Reload theirs
      </button>
    </>
  );
}

// The toolbar is two groups, editing on the left and the flow's run and side panels on the right: where they do
// not fit side by side the right one wraps onto a second row whole, and no button is ever pushed off-screen (found
// by a newcomer: at 1440 px with someone else here, Runs and ? were out of reach).
function Toolbar({ onLayout, layingOut, onAdd, onFit, onHistory, onHelp, onRuns, onPalette, searchRef }: {
  onLayout: () => void;
  layingOut: boolean;
  onAdd: () => void;
  onFit: () => void;
  onHistory: (step: "undo" | "redo") => void;
  onHelp: () => void;
  onRuns: () => void;
  onPalette: () => void;
  searchRef: React.RefObject<HTMLInputElement | null>;
}) {
  const base = useDesigner((s) => s.base);
  const flowId = useDesigner((s) => s.flowId);
  const dirty = useDesigner(selectDirty);
  const readOnly = useDesigner(selectReadOnly);
  const saving = useDesigner((s) => s.saving);
  const canUndo = useDesigner((s) => s.past.length > 0);
  const canRedo = useDesigner((s) => s.future.length > 0);
  const { save } = useDesigner.getState();
  const { setCenter, getNode } = useReactFlow();
  const search = useSearch();
  const [acting, setActing] = useState("");

  async function flowAction(action: string) {
    if (!flowId) return;
    if (dirty && action !== "stop" && action !== "pause") notifyInfo("The flow has unsaved changes: the server runs what is saved.");
    setActing(action);
    try {
      const answer = await api.flowAction(flowId, action);
      useStatus.getState().set(answer.processors);
    } catch (error) {
      notifyError(error);
    } finally {
      setActing("");
    }
  }

  function goTo(id: string | null) {
    const node = id ? getNode(id) : undefined;
    if (!node) return;
    setCenter(node.position.x + (node.measured?.width ?? 240) / 2, node.position.y + (node.measured?.height ?? 100) / 2, {
      zoom: 1.1,
      duration: 300,
    });
  }

  return (
    <div className="toolbar" role="toolbar">
      <div className="toolbar-group">
        <button type="button" onClick={() => navigate("/")} title="All flows">
          ← Flows
        </button>
        <strong className="flow-title" title={base?.name}>{base?.name}</strong>
        <span className={`save-state ${dirty ? "dirty" : ""}`} data-testid="save-state">
          {saving ? "saving…" : dirty ? "● unsaved changes" : `saved · v${base?.version ?? ""}`}
        </span>
        {!readOnly && (
          <>
            <button type="button" className="primary" disabled={!dirty || saving} onClick={() => void save()}>
              Save
            </button>
            <button type="button" disabled={!canUndo} onClick={() => onHistory("undo")} title="Undo (Ctrl+Z)"
              aria-label="Undo">↶</button>
            <button type="button" disabled={!canRedo} onClick={() => onHistory("redo")}
              title="Redo (Ctrl+Shift+Z)" aria-label="Redo">↷</button>
            <button type="button" onClick={onAdd} title="Add a processor (N)">
              + Processor
            </button>
            <button type="button" onClick={onLayout} disabled={layingOut} title="Auto-layout (L)">
              {layingOut ? "Laying out…" : "Layout"}
            </button>
          </>
        )}
        <button type="button" onClick={onFit} title="Fit (F)">
          Fit
        </button>
        <input
          ref={searchRef}
          className="search"
          type="search"
          placeholder="Search (Ctrl+F)"
          aria-label="Search processors"
          value={search.text}
          onChange={(e) => {
            const matches = searchNodes(useDesigner.getState().nodes, e.target.value);
            search.set(e.target.value, matches);
            goTo(matches[0] ?? null);
          }}
          onKeyDown={(e) => {
            if (e.key === "Enter") goTo(search.step(e.shiftKey ? -1 : 1));
            if (e.key === "Escape") {
              search.set("", []);
              (e.target as HTMLInputElement).blur();
            }
          }}
        />
        {search.text && (
          <span className="muted search-count">
            {search.matches.length ? `${search.current + 1}/${search.matches.length}` : "no match"}
          </span>
        )}
      </div>
      <div className="toolbar-group toolbar-side">
        <Presence />
        {flowId && <LiveDot path={flowPath(flowId)} />}
        {/* One joined group under "All", each button named "<Action> all" for screen readers: a row of "Start all",
            "Stop all", … did not fit beside the rest at 1440 px. */}
        <span className="flow-actions" role="group" aria-label="Run the whole flow">
          <span className="flow-actions-label" aria-hidden="true">All</span>
          {FLOW_ACTIONS.map((action) => (
            <button key={action} type="button" disabled={!!acting} onClick={() => void flowAction(action)}
              aria-label={`${action[0].toUpperCase()}${action.slice(1)} all`} title={`${action} every processor of the flow`}>
              {acting === action ? `${action}…` : `${action[0].toUpperCase()}${action.slice(1)}`}
            </button>
          ))}
        </span>
        {!readOnly && <ChaosControl />}
        {!readOnly && (
          <button type="button" onClick={onPalette} title="Functions of the code already in use, to drag onto the canvas">
            Palette
          </button>
        )}
        <button type="button" onClick={onRuns} title="The flow's latest runs, their status and traces">
          Runs
        </button>
        <button type="button" onClick={onHelp} title="Keyboard shortcuts (?)">
          ?
        </button>
      </div>
    </div>
  );
}

/** The socket row a click landed on (ProcessorNode marks each with data-socket-id), if any. */
function socketAt(target: EventTarget | null): string | null {
  return target instanceof Element ? (target.closest("[data-socket-id]")?.getAttribute("data-socket-id") ?? null) : null;
}

function Canvas({ flowId }: { flowId: string }) {
  const nodes = useDesigner((s) => s.nodes);
  const edges = useDesigner((s) => s.edges);
  // Plugs on a loop are marked (PlugEdge draws ↻); only edges whose mark changes are new objects.
  const shownEdges = useMemo(() => markLoops(edges), [edges]);
  const loading = useDesigner((s) => s.loading);
  const loadError = useDesigner((s) => s.loadError);
  const readOnly = useDesigner(selectReadOnly);
  const rights = useDesigner((s) => s.rights);
  const panel = useDesigner((s) => s.panel);
  const saveError = useDesigner((s) => s.saveError);
  const stale = useDesigner((s) => s.stale);
  const remote = useDesigner((s) => s.remote);
  const statusError = useStatus((s) => s.error);
  // Live updates (metrics and run status) once the graph has loaded, so the status the graph document brings
  // never overwrites a newer live one.
  const loaded = useDesigner((s) => s.flowId === flowId && !s.loading && !s.loadError && s.base !== null);
  // Taps last while the flow is open, also over a reload of its graph (after someone's save): another flow, or
  // leaving the designer, untaps them. Before the live feed, so the untaps go out before it closes.
  useEffect(() => closeTaps, [flowId]);
  useFlowLive(flowId, loaded);
  const tapping = useTaps((s) => Object.keys(s.taps).length > 0);
  const store = useDesigner.getState();
  const { screenToFlowPosition, setCenter, getZoom } = useReactFlow();
  const [help, setHelp] = useState(false);
  const [runs, setRuns] = useState(false);
  const [palette, setPalette] = useState(false);
  const [extras, setExtras] = useState({ map: true, grid: true });
  const searchRef = useRef<HTMLInputElement>(null);
  const wrapper = useRef<HTMLDivElement>(null);
  const { fitAll, showCards } = useViewport(wrapper);
  // Measured cards: the first fit uses their real heights, so no card starts cut off at the bottom.
  const measured = useNodesInitialized();
  const fitted = useRef(false);
  const selectedEdge = edges.length && !panel ? edges.find((e) => e.selected) : undefined;

  useEffect(() => {
    fitted.current = false;
    void useDesigner.getState().load(flowId);
  }, [flowId]);

  useEffect(() => {
    if (!loading && nodes.length && measured && !fitted.current) {
      fitted.current = true;
      const small = nodes.length <= LARGE_FLOW;
      setExtras({ map: small, grid: small });
      fitAll(0);
    }
  }, [loading, nodes.length, measured, fitAll]);

  useEffect(() => {
    const beforeUnload = (e: BeforeUnloadEvent) => {
      if (selectDirty(useDesigner.getState())) e.preventDefault();
    };
    window.addEventListener("beforeunload", beforeUnload);
    setLeaveGuard(() => !selectDirty(useDesigner.getState()) || window.confirm(MSG.unsavedLeave));
    return () => {
      window.removeEventListener("beforeunload", beforeUnload);
      setLeaveGuard(null);
    };
  }, []);

  const addProcessor = useCallback(() => {
    const box = wrapper.current?.getBoundingClientRect();
    const center = box
      ? screenToFlowPosition({ x: box.left + box.width / 2, y: box.top + box.height / 2 })
      : { x: 0, y: 0 };
    const id = useDesigner.getState().addProcessor({ x: center.x - 120, y: center.y - 50 });
    // The spot may have moved below other cards, and the panel that opens narrows the canvas: bring the new card
    // into view once both have rendered (found by a designer: it landed half off-screen).
    const node = id ? useDesigner.getState().nodes.find((n) => n.id === id) : undefined;
    if (node) {
      setTimeout(() => void setCenter(node.position.x + 120, node.position.y + 60, { zoom: getZoom(), duration: 200 }), 60);
    }
  }, [screenToFlowPosition, setCenter, getZoom]);

  const [layingOut, setLayingOut] = useState(false);
  const autoLayout = useCallback(async () => {
    const { nodes, edges, setPositions } = useDesigner.getState();
    setLayingOut(true);
    try {
      setPositions(await layout(nodes, edges));
      // The cards moved: show them all, with the plugs that go round them (found by a newcomer: loops ran
      // off-screen after a layout).
      fitAll();
    } catch (error) {
      notifyError(error);
    } finally {
      setLayingOut(false);
    }
  }, [fitAll]);

  const history = useCallback((step: "undo" | "redo") => {
    const s = useDesigner.getState();
    // Undoing a layout moves every card back: fit again, or cards sit off-screen or under the Map/Grid switches.
    if ((step === "undo" ? s.undo() : s.redo()) === "layout") fitAll();
  }, [fitAll]);

  const paste = useCallback(() => {
    const pasted = useDesigner.getState().paste();
    if (pasted.length === 0) return;
    // The copies land clear of every card, which may be out of sight (found by a newcomer): show them, say so.
    showCards(pasted);
    notifyInfo(`Pasted ${pasted.length} processor${pasted.length === 1 ? "" : "s"}.`);
  }, [showCards]);

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const s = useDesigner.getState();
      const mod = e.ctrlKey || e.metaKey;
      const key = e.key.toLowerCase();
      if (mod && key === "s") {
        e.preventDefault();
        if (!selectReadOnly(s) && selectDirty(s)) void s.save();
        return;
      }
      if (mod && key === "f") {
        e.preventDefault();
        searchRef.current?.focus();
        return;
      }
      if (typingIn(e.target)) {
        // Escape leaves the field (its onBlur keeps what was typed) and closes the panel.
        if (e.key === "Escape") {
          (e.target as HTMLElement).blur();
          s.openPanel(null);
        }
        return;
      }
      if (mod && key === "z") {
        e.preventDefault();
        history(e.shiftKey ? "redo" : "undo");
      } else if (mod && key === "y") {
        e.preventDefault();
        history("redo");
      } else if (mod && key === "c") {
        const n = s.copy();
        if (n) notifyInfo(`Copied ${n} processor${n === 1 ? "" : "s"}.`);
      } else if (mod && key === "v") {
        paste();
      } else if (mod && key === "a") {
        e.preventDefault();
        s.selectAll();
      } else if (e.key === "Delete" || e.key === "Backspace") {
        s.deleteSelected();
      } else if (e.key === "Escape") {
        s.openPanel(null);
        s.select([]);
        setHelp(false);
      } else if (!mod && key === "n") {
        addProcessor();
      } else if (!mod && key === "f") {
        fitAll();
      } else if (!mod && key === "m") {
        setExtras((x) => ({ ...x, map: !x.map }));
      } else if (!mod && key === "l") {
        void autoLayout();
      } else if (e.key === "/") {
        e.preventDefault();
        searchRef.current?.focus();
      } else if (e.key === "?") {
        setHelp((h) => !h);
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [addProcessor, autoLayout, fitAll, history, paste]);

  // A connection that can never be a plug shows as refused while it is drawn (the line turns red over such an
  // input), and dropping it says why (found by a newcomer: the refusal came only at release, as a plain line).
  const isValidConnection = useCallback((c: Connection | Edge) => {
    const s = useDesigner.getState();
    return connectionProblem(c as Connection, s.nodes, s.edges, selectReadOnly(s)) === null;
  }, []);
  const onConnectEnd = useCallback((_event: MouseEvent | TouchEvent, state: FinalConnectionState) => {
    if (state.isValid !== false || !state.fromHandle || !state.toHandle) return;
    const s = useDesigner.getState();
    const connection = {
      source: state.fromHandle.nodeId,
      target: state.toHandle.nodeId,
      sourceHandle: state.fromHandle.id ?? null,
      targetHandle: state.toHandle.id ?? null,
    };
    const problem = connectionProblem(connection, s.nodes, s.edges, selectReadOnly(s));
    if (problem) notifyError(problem);
  }, []);

  const onConnect = useCallback((connection: Connection) => {
    const problem = useDesigner.getState().connect(connection);
    if (problem) {
      notifyError(problem);
      return;
    }
    // Loops are legitimate (a step that repeats until done), so allowed; said once as drawn, then marked ↻.
    const { edges: now, nodes: all } = useDesigner.getState();
    const made = now[now.length - 1]?.data?.plug;
    const path = made ? loopThrough(made, now, all) : null;
    if (path) notifyInfo(MSG.connect.loop(path));
  }, []);

  if (loadError) {
    return (
      <main className="page">
        <div className="error-box" role="alert">
          {loadError}
        </div>
        <button type="button" onClick={() => navigate("/")}>Back to the flows</button>{" "}
        <button type="button" onClick={() => void useDesigner.getState().load(flowId)}>Try again</button>
      </main>
    );
  }

  return (
    <div className="designer">
      <Toolbar onLayout={() => void autoLayout()} layingOut={layingOut} onAdd={addProcessor} onFit={() => fitAll()}
        onHistory={history} onHelp={() => setHelp(true)}
        onRuns={() => {
          setRuns((open) => !open);
          store.openPanel(null);
        }} onPalette={() => setPalette((open) => !open)} searchRef={searchRef} />
      {readOnly && !loading && (
        <div className="banner banner-readonly" data-testid="readonly-banner">
          {MSG.readOnly(rights.reason)}
        </div>
      )}
      <ChaosBanner />
      {stale && (
        <div className="banner banner-error" role="alert" data-testid="stale-banner">
          {stale.why ?? MSG.stale(stale.mine, stale.theirs)}{" "}
          <KeepOrReload flowId={flowId} />
        </div>
      )}
      {remote && !stale && (
        <div className="banner banner-warn" role="alert" data-testid="remote-banner">
          {MSG.remoteWhileEditing(remote.by, remote.version)}{" "}
          <KeepOrReload flowId={flowId} />
        </div>
      )}
      {saveError && !stale && (
        <div className="banner banner-error" role="alert" data-testid="save-error">
          {saveError}
        </div>
      )}
      <LiveClosedBanner path={flowPath(flowId)} />
      {statusError && <div className="banner banner-warn">{MSG.live.statusFailed(statusError)}</div>}
      <div className="workspace">
        {palette && !readOnly && <Palette flowId={flowId} onClose={() => setPalette(false)} />}
        <div className="canvas" ref={wrapper} data-testid="canvas"
          onDragOver={(e) => {
            if (e.dataTransfer.types.includes(PALETTE_TYPE)) {
              e.preventDefault();
              e.dataTransfer.dropEffect = "copy";
            }
          }}
          onDrop={(e) => {
            const raw = e.dataTransfer.getData(PALETTE_TYPE);
            if (!raw) return;
            e.preventDefault();
            const at = screenToFlowPosition({ x: e.clientX, y: e.clientY });
            const id = store.addFunction(JSON.parse(raw) as PaletteItem, { x: at.x - 120, y: at.y - 30 });
            const node = id ? useDesigner.getState().nodes.find((n) => n.id === id) : undefined;
            // The panel that opens narrows the canvas: keep the new card in view (found by a newcomer).
            if (node) setTimeout(() => void setCenter(node.position.x + 120, node.position.y + 60, { zoom: getZoom(), duration: 200 }), 60);
          }}>
          {loading && <div className="loading">Loading the flow…</div>}
          <ReactFlow
            nodes={nodes}
            edges={shownEdges}
            nodeTypes={NODE_TYPES}
            edgeTypes={EDGE_TYPES}
            onNodesChange={store.onNodesChange}
            onEdgesChange={store.onEdgesChange}
            onConnect={onConnect}
            isValidConnection={isValidConnection}
            onConnectEnd={onConnectEnd}
            onNodeDragStart={store.dragStart}
            onNodeDragStop={store.dragStop}
            onNodeDoubleClick={(_, node) => store.openPanel(node.id)}
            onNodeClick={(event, node) => store.openPanel(node.id, socketAt(event.target))}
            onPaneClick={() => store.openPanel(null)}
            nodesDraggable={!readOnly}
            nodesConnectable={!readOnly}
            edgesReconnectable={false}
            deleteKeyCode={null}
            selectionKeyCode="Shift"
            multiSelectionKeyCode={["Meta", "Control"]}
            onlyRenderVisibleElements={false}
            minZoom={0.05}
            maxZoom={2}
            proOptions={{ hideAttribution: true }}
          >
            {extras.grid && <Background gap={20} />}
            <Controls showInteractive={false} />
            {/* Not while a panel is open: the narrowed canvas has no room for it beside the cards. */}
            {extras.map && !panel && !selectedEdge && !tapping && <MiniMap pannable zoomable nodeStrokeWidth={3} />}
          </ReactFlow>
          <div className="canvas-toggles">
            <label title="Overview of the whole flow (M)">
              <input type="checkbox" checked={extras.map} onChange={(e) => setExtras({ ...extras, map: e.target.checked })} /> Map
            </label>
            <label title="Dotted grid">
              <input type="checkbox" checked={extras.grid} onChange={(e) => setExtras({ ...extras, grid: e.target.checked })} /> Grid
            </label>
          </div>
          {!loading && nodes.length === 0 && (
            <div className="empty-canvas">
              {readOnly ? "This flow is empty." : "An empty flow. Add a processor (+ Processor or N) to start."}
            </div>
          )}
        </div>
        {panel && <ProcessorPanel id={panel} />}
        {!panel && selectedEdge && <PlugPanel id={selectedEdge.id} />}
        {!panel && !selectedEdge && runs && <RunsPanel flowId={flowId} onClose={() => setRuns(false)} />}
        {tapping && <TapPanel />}
      </div>
      {help && <Help onClose={() => setHelp(false)} />}
    </div>
  );
}

export function Designer({ flowId }: { flowId: string }) {
  return (
    <ReactFlowProvider>
      <Canvas flowId={flowId} />
    </ReactFlowProvider>
  );
}
