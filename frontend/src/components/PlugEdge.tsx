// A plug on the canvas: the usual bezier with its argument label, plus the live depth of the TARGET socket's queue
// near its end, coloured by back pressure. The depth label subscribes to the metrics store for its own sockets, so
// a depth sample renders the labels alone, never the graph.
import { BaseEdge, EdgeLabelRenderer, getBezierPath, type EdgeProps } from "@xyflow/react";
import { memo } from "react";
import type { PlugEdge } from "../graph/model";
import { depthTitle, pressure } from "../metrics/format";
import { selectDepth, useMetrics } from "../stores/metrics";

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
  const { id, sourceX, sourceY, targetX, targetY, sourcePosition, targetPosition, data } = props;
  const [path, labelX, labelY] = getBezierPath({ sourceX, sourceY, targetX, targetY, sourcePosition, targetPosition });
  const plug = data?.plug;
  return (
    <>
      <BaseEdge
        id={id}
        path={path}
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
    </>
  );
}

export const PlugEdgeComponent = memo(PlugEdgeView);
