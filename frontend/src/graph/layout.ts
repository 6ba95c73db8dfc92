// Auto-layout with ELK's layered algorithm: plugs run left to right, sockets are ports on the processors so
// plugs leave and enter at the right rows.
import type { ELK } from "elkjs/lib/elk-api";
import { parseHandle, type PlugEdge, type ProcessorNode } from "./model";

// ELK is large (about 1.4 MB); it is loaded the first time someone asks for a layout, not with the page.
let elk: Promise<ELK> | null = null;
function engine(): Promise<ELK> {
  elk ??= import("elkjs/lib/elk.bundled.js").then(({ default: ELK }) => new ELK());
  return elk;
}
export const NODE_WIDTH = 240;

export function nodeHeight(node: ProcessorNode): number {
  return node.measured?.height ?? 64 + 28 * Math.max(1, node.data.processor.sockets.length);
}

export async function layout(
  nodes: ProcessorNode[],
  edges: PlugEdge[],
): Promise<Record<string, { x: number; y: number }>> {
  const graph = {
    id: "root",
    layoutOptions: {
      "elk.algorithm": "layered",
      "elk.direction": "RIGHT",
      // Room between cards for the plugs that go round them (graph/route.ts runs them up to ~55 px out).
      "elk.spacing.nodeNode": "80",
      "elk.layered.spacing.nodeNodeBetweenLayers": "120",
      "elk.portConstraints": "FIXED_ORDER",
      // Found by a designer: 60 processors in a chain came out as a diagonal staircase, one layer each and as
      // wide as the chain. Straight rows (network simplex), and a long chain wrapped into rows that keep the
      // picture near a screen's shape; the order the processors were drawn in breaks ties.
      "elk.layered.nodePlacement.strategy": "NETWORK_SIMPLEX",
      "elk.layered.wrapping.strategy": "MULTI_EDGE",
      "elk.aspectRatio": "1.6",
      "elk.layered.considerModelOrder.strategy": "NODES_AND_EDGES",
    },
    children: nodes.map((node) => ({
      id: node.id,
      width: node.measured?.width ?? NODE_WIDTH,
      height: nodeHeight(node),
      ports: node.data.processor.sockets.flatMap((s, i) => [
        { id: `${node.id}/in:${s.id}`, layoutOptions: { "elk.port.side": "WEST", "elk.port.index": String(i) } },
        { id: `${node.id}/result:${s.id}`, layoutOptions: { "elk.port.side": "EAST", "elk.port.index": String(2 * i) } },
        { id: `${node.id}/error:${s.id}`, layoutOptions: { "elk.port.side": "EAST", "elk.port.index": String(2 * i + 1) } },
      ]),
    })),
    edges: edges.flatMap((edge) => {
      const from = parseHandle(edge.sourceHandle);
      const to = parseHandle(edge.targetHandle);
      if (!from || !to) return [];
      return [
        {
          id: edge.id,
          sources: [`${edge.source}/${edge.sourceHandle}`],
          targets: [`${edge.target}/${edge.targetHandle}`],
        },
      ];
    }),
  };
  const result = await (await engine()).layout(graph);
  const positions: Record<string, { x: number; y: number }> = {};
  for (const child of result.children ?? []) positions[child.id] = { x: child.x ?? 0, y: child.y ?? 0 };
  return positions;
}
