// A plug on the canvas: the usual bezier with its argument label, plus the live depth of the TARGET socket's queue
// near its end, coloured by back pressure. The depth label subscribes to the metrics store for its own sockets, so
// a depth sample renders the labels alone, never the graph. A plug the bezier would hide under a card (between two
// sockets of one processor, or back to a processor on the left) goes round the cards instead (graph/route.ts); a
// plug on a loop is marked ↻, and a tapped plug (stores/taps.ts) runs dashed with a "tap" mark that shows its tap.
import { BaseEdge, EdgeLabelRenderer, getBezierPath, useInternalNode, type EdgeProps, type InternalNode } from "@xyflow/react";
import { memo } from "react";
import type { PlugEdge } from "../graph/model";
import { detour, laneOf, needsDetour, type Box } from "../graph/route";
import { MSG } from "../messages";
import { depthTitle, pressure } from "../metrics/format";
import { selectDepth, useMetrics } from "../stores/metrics";
import { showTap, useTaps } from "../stores/taps";

function box(node: InternalNode | undefined): Box | null {
  if (!node?.measured.width || !node.measured.height) return null;
  const { x, y } = node.internals.positionAbsolute;
  return { x, y, width: node.measured.width, height: node.measured.height };
}

/** The y of each output handle of the card, where the canvas has measured them: a lane each (graph/route.ts). */
function outputsOf(node: InternalNode | undefined): number[] {
  const handles = node?.internals.handleBounds?.source ?? [];
  return handles.map((h) => node!.internals.positionAbsolute.y + h.y + h.height / 2);
}

const DepthLabel = memo(function DepthLabel({ plugId, source, target, x, y }: {
  plugId: string;
  source: string;
  target: string;
  x: number;
  y: number;
}) {
  const depth = useMetrics(selectDepth(target));
  const senderHeld = useMetrics((s) => s.depths[source]?.held ?? false);
  if (!depth) return null;
  const level = pressure(depth, senderHeld);
  return (
    <EdgeLabelRenderer>
      <div
        className={`plug-depth plug-depth-${level} nodrag nopan`}
        style={{ transform: `translate(-100%, -130%) translate(${x - 6}px, ${y}px)` }}
        title={depthTitle(depth, senderHeld && level !== "none")}
        data-testid={`plug-depth-${plugId}`}
        data-level={level}
      >
        {depth.depth}
      </div>
    </EdgeLabelRenderer>
  );
});

function PlugEdgeView(props: EdgeProps<PlugEdge>) {
  const { id, source, target, sourceX, sourceY, targetX, targetY, sourcePosition, targetPosition, data } = props;
  const sourceNode = useInternalNode(source);
  const from = box(sourceNode);
  const to = box(useInternalNode(target));
  const start = { x: sourceX, y: sourceY };
  const end = { x: targetX, y: targetY };
  let path: string;
  let labelX: number;
  let labelY: number;
  if (from && to && needsDetour(start, end, source === target)) {
    const route = detour(start, end, source === target ? [from] : [from, to], laneOf(start, from, outputsOf(sourceNode)));
    [path, labelX, labelY] = [route.path, route.middle.x, route.middle.y];
  } else {
    [path, labelX, labelY] = getBezierPath({ sourceX, sourceY, targetX, targetY, sourcePosition, targetPosition });
  }
  const plug = data?.plug;
  const tapped = useTaps((s) => id in s.taps);
  return (
    <>
      <BaseEdge
        id={id}
        path={path}
        className={tapped ? "plug-tapped" : undefined}
        markerEnd={props.markerEnd}
        markerStart={props.markerStart}
        style={props.style}
        interactionWidth={props.interactionWidth}
        label={props.label}
        labelX={labelX}
        labelY={labelY}
        labelStyle={props.labelStyle}
        labelShowBg={props.labelShowBg}
        labelBgStyle={props.labelBgStyle}
        labelBgPadding={props.labelBgPadding}
        labelBgBorderRadius={props.labelBgBorderRadius}
      />
      {plug && <DepthLabel plugId={id} source={plug.source} target={plug.target} x={targetX} y={targetY} />}
      {tapped && (
        <EdgeLabelRenderer>
          <button
            type="button"
            className="plug-tap-mark nodrag nopan"
            style={{ transform: `translate(-50%, -100%) translate(${labelX}px, ${labelY - 10}px)` }}
            title={MSG.tap.mark}
            onClick={() => showTap(id)}
            data-testid={`plug-tap-${id}`}
          >
            tap
          </button>
        </EdgeLabelRenderer>
      )}
      {data?.loop && (
        <EdgeLabelRenderer>
          <div
            className="plug-loop-mark nodrag nopan"
            style={{ transform: `translate(-50%, -50%) translate(${labelX}px, ${labelY}px)` }}
            title={MSG.connect.loopTitle}
            data-testid={`plug-loop-${id}`}
          >
            ↻
          </div>
        </EdgeLabelRenderer>
      )}
    </>
  );
}

export const PlugEdgeComponent = memo(PlugEdgeView);
