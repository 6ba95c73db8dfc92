// Moving the designer's view: fit it to the whole flow, plugs included, or bring some cards into sight.
import { getViewportForBounds, useReactFlow } from "@xyflow/react";
import { useCallback, type RefObject } from "react";
import { cardBox, type ProcessorNode } from "../graph/model";
import { boundsOf, within, withDetours, type Box } from "../graph/route";
import { useDesigner } from "../stores/designer";

// Room kept round the flow: more on top, where the Map and Grid switches lie over the canvas (found by a newcomer:
// after an undo a card sat under them).
const PADDING = { top: "56px", bottom: "28px", x: "28px" } as const;
const MIN_ZOOM = 0.05; // the canvas's own
const MAX_ZOOM = 1.5; // a small flow is not blown up to the canvas's largest zoom

/** What a fit shows: every card, and room for every plug that goes round cards (they run outside them). */
export function flowBox(nodes: ProcessorNode[]): Box | null {
  if (nodes.length === 0) return null;
  const outputs = Math.max(...nodes.map((n) => 2 * n.data.processor.sockets.length));
  return withDetours(nodes.map(cardBox), outputs);
}

export function useViewport(canvas: RefObject<HTMLElement | null>) {
  const { setViewport, setCenter, getZoom, screenToFlowPosition } = useReactFlow();

  /** The whole flow in view (Fit, F, after a layout and after undoing one). */
  const fitAll = useCallback(
    (duration = 300) => {
      const box = flowBox(useDesigner.getState().nodes);
      const size = canvas.current?.getBoundingClientRect();
      if (!box || !size?.width || !size.height) return;
      void setViewport(getViewportForBounds(box, size.width, size.height, MIN_ZOOM, MAX_ZOOM, PADDING), { duration });
    },
    [canvas, setViewport],
  );

  /** Pan, at the same zoom, to cards that are not all in view (a paste may land below the visible area). */
  const showCards = useCallback(
    (ids: string[]) => {
      const wanted = new Set(ids);
      const cards = useDesigner.getState().nodes.filter((n) => wanted.has(n.id));
      const size = canvas.current?.getBoundingClientRect();
      if (cards.length === 0 || !size) return;
      const box = boundsOf(cards.map(cardBox));
      const topLeft = screenToFlowPosition({ x: size.left, y: size.top });
      const bottomRight = screenToFlowPosition({ x: size.right, y: size.bottom });
      const seen = { x: topLeft.x, y: topLeft.y, width: bottomRight.x - topLeft.x, height: bottomRight.y - topLeft.y };
      if (within(box, seen)) return;
      void setCenter(box.x + box.width / 2, box.y + box.height / 2, { zoom: getZoom(), duration: 300 });
    },
    [canvas, setCenter, getZoom, screenToFlowPosition],
  );

  return { fitAll, showCards };
}
