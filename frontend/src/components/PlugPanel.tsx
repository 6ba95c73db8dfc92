// The selected plug: its name, kind and the parameter its value goes to, and a tap to watch what passes along it.
import { useEffect, useState } from "react";
import type { ProcessorNode } from "../graph/model";
import { selectReadOnly, useDesigner } from "../stores/designer";
import { TapButton } from "./TapPanel";

function socketName(nodes: ProcessorNode[], id: string | undefined): string {
  for (const n of nodes) for (const s of n.data.processor.sockets) if (s.id === id) return s.name;
  return "?";
}

export function PlugPanel({ id }: { id: string }) {
  const edge = useDesigner((s) => s.edges.find((e) => e.id === id));
  const readOnly = useDesigner(selectReadOnly);
  const sourceName = useDesigner((s) => socketName(s.nodes, edge?.data?.plug.source));
  const targetName = useDesigner((s) => socketName(s.nodes, edge?.data?.plug.target));
  const [argument, setArgument] = useState(edge?.data?.plug.argument ?? "");
  useEffect(() => setArgument(edge?.data?.plug.argument ?? ""), [edge?.data?.plug.argument]);
  if (!edge?.data) return null;
  const plug = edge.data.plug;
  const commit = () => {
    if (argument !== plug.argument) useDesigner.getState().updatePlug(id, { argument: argument.trim() });
  };
  return (
    <aside className="panel panel-plug" aria-label={`Plug ${plug.name}`}>
      <header className="panel-head">
        <h2>Plug</h2>
      </header>
      <p>
        <code>{plug.name}</code>
      </p>
      <p>
        {plug.kind === "error" ? "Errors" : "Results"} of <code>{sourceName}</code> go to{" "}
        <code>{targetName}</code>.
      </p>
      <label className="field">
        <span>Argument</span>
        <input aria-label="Argument" value={argument} disabled={readOnly} placeholder="first positional argument"
          title="Give a parameter name to pass the value by that name instead of as the first argument."
          onChange={(e) => setArgument(e.target.value)} onBlur={commit} onKeyDown={(e) => e.key === "Enter" && commit()} />
      </label>
      <div className="button-row">
        <TapButton kind="plug" target={plug.id} name={plug.name} />
      </div>
    </aside>
  );
}
