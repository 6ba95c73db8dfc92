// The designer's live feed: /ws/flows/<id>/ frames go to the metrics store (counts, depths, errors) and the status
// store (status frames and each snapshot's processors), which together replace the old 2 s status poll; the
// answers to taps (tapping, tap, and a refusal as an error) go to the taps store. The designer store is only read
// here (which socket belongs to which processor), never written.
import { useEffect } from "react";
import { socketOwners, type ProcessorNode } from "../graph/model";
import { applyFrame, setOwners, startMetrics } from "../stores/metrics";
import { useDesigner } from "../stores/designer";
import { useStatus } from "../stores/status";
import { applyTapFrame } from "../stores/taps";
import type { FlowFrame } from "./frames";
import { subscribe } from "./socket";

export const flowPath = (flowId: string) => `/ws/flows/${flowId}/`;

/** Keeps the metrics store's socket -> processor map in step with the canvas. Dragging makes new node objects
 * but keeps their `data`, so the map is rebuilt only when a processor's sockets can have changed. */
function followOwners(): () => void {
  let seen: unknown[] = [];
  let last: ProcessorNode[] | null = null;
  const update = (nodes: ProcessorNode[]) => {
    if (nodes === last) return;
    last = nodes;
    if (nodes.length === seen.length && nodes.every((n, i) => n.data === seen[i])) return;
    seen = nodes.map((n) => n.data);
    setOwners(socketOwners(nodes));
  };
  update(useDesigner.getState().nodes);
  return useDesigner.subscribe((s) => update(s.nodes));
}

/** Follow one flow until the returned function is called. */
export function followFlow(flowId: string): () => void {
  const stopMetrics = startMetrics(flowId);
  const stopOwners = followOwners();
  let refresh: ReturnType<typeof setTimeout> | undefined;
  const off = subscribe(flowPath(flowId), (raw) => {
    const frame = raw as unknown as FlowFrame;
    if ("flow_id" in frame && frame.flow_id && frame.flow_id !== flowId) return;
    if (frame.type === "status" || frame.type === "snapshot") {
      const status = useStatus.getState();
      const before = status.byId;
      const states = frame.processors ?? [];
      const moved = status.applyStates(states);
      // Live states carry no commit and no placement; the commit pinned when a processor starts, and where its
      // replicas run, show in its panel, so read the rows once when a processor has come up or its message says
      // something new (a replica placed, moving, or lost with its node).
      const told = states.some((s) => before[s.id] && before[s.id].status_message !== s.status_message);
      if (told || moved.some((id) => useStatus.getState().byId[id]?.status === "running")) {
        clearTimeout(refresh);
        refresh = setTimeout(() => void useStatus.getState().refresh(flowId), 300);
      }
    }
    if (frame.type === "presence") useDesigner.getState().setOthers(frame.others, frame.you);
    else if (frame.type === "saved") useDesigner.getState().remoteSaved(frame.version, frame.by, frame.client);
    else if (frame.type === "tapping" || frame.type === "tap" || frame.type === "error") applyTapFrame(frame);
    else applyFrame(frame);
  });
  return () => {
    off();
    clearTimeout(refresh);
    stopOwners();
    stopMetrics();
  };
}

/** Follow the flow while `enabled` (once its graph has loaded: the status it brings must not overwrite the live one). */
export function useFlowLive(flowId: string, enabled: boolean): void {
  useEffect(() => (enabled ? followFlow(flowId) : undefined), [flowId, enabled]);
}
