// The palette: code already in use (this flow's processors, and those of the other flows you may see), each
// module's functions read at the commit its ref resolves to; drag a function onto the canvas to add a processor
// running it, configured from that module. Functions are read when an entry is opened, not with the page.
import { useEffect, useMemo, useState } from "react";
import { api } from "../api/client";
import type { FunctionInfo } from "../api/types";
import { useDesigner } from "../stores/designer";

/** What is dragged from the palette (dataTransfer type PALETTE_TYPE, JSON). */
export interface PaletteItem {
  git_url: string;
  ref: string;
  subdirectory: string;
  module: string;
  function: string;
}
export const PALETTE_TYPE = "application/x-elasticcode-function";

type Source = Omit<PaletteItem, "function">;
const key = (s: Source) => `${s.git_url}\n${s.ref}\n${s.subdirectory}\n${s.module}`;

function Entry({ source, flowId }: { source: Source; flowId: string }) {
  const [open, setOpen] = useState(false);
  const [functions, setFunctions] = useState<FunctionInfo[] | null>(null);
  const [error, setError] = useState("");
  useEffect(() => {
    if (!open || functions) return;
    api.discover(flowId, source).then(
      (code) => setFunctions(code.functions),
      (e: Error) => setError(e.message),
    );
  }, [open, functions, flowId, source]);
  const repo = source.git_url.replace(/^.*[/:]/, "").replace(/\.git$/, "");
  return (
    <li data-testid={`palette-${source.module}`}>
      <button type="button" className="link palette-source" aria-expanded={open} onClick={() => setOpen(!open)}
        title={`${source.git_url} @ ${source.ref}${source.subdirectory ? ` (${source.subdirectory}/)` : ""}`}>
        {open ? "▾" : "▸"} {source.module} <span className="muted">· {repo}@{source.ref}</span>
      </button>
      {open && !functions && !error && <div className="muted">Reading the code…</div>}
      {error && <div className="field-error">{error}</div>}
      {open && functions && (
        <ul className="palette-functions">
          {functions.length === 0 && <li className="muted">No public functions.</li>}
          {functions.map((fn) => (
            <li key={fn.name} draggable data-testid={`palette-fn-${fn.name}`} title={fn.doc || fn.signature}
              onDragStart={(e) => {
                const item: PaletteItem = { ...source, function: fn.name };
                e.dataTransfer.setData(PALETTE_TYPE, JSON.stringify(item));
                e.dataTransfer.effectAllowed = "copy";
              }}>
              <code>{fn.name}</code>
            </li>
          ))}
        </ul>
      )}
    </li>
  );
}

export function Palette({ flowId, onClose }: { flowId: string; onClose: () => void }) {
  const nodes = useDesigner((s) => s.nodes);
  const [others, setOthers] = useState<Source[]>([]);
  useEffect(() => {
    api.allProcessors().then(
      (page) =>
        setOthers(
          page.results.map((p) => ({ git_url: p.git_url ?? "", ref: p.ref ?? "main", subdirectory: p.subdirectory ?? "", module: p.module ?? "" })),
        ),
      () => setOthers([]),
    );
  }, []);
  const sources = useMemo(() => {
    const seen = new Map<string, Source>();
    const here = nodes.map((n) => n.data.processor);
    for (const s of [...here, ...others]) {
      if (!s.git_url || !s.module) continue;
      const source = { git_url: s.git_url, ref: s.ref, subdirectory: s.subdirectory ?? "", module: s.module };
      if (!seen.has(key(source))) seen.set(key(source), source);
    }
    return [...seen.values()];
  }, [nodes, others]);
  return (
    <aside className="palette" aria-label="Palette" data-testid="palette">
      <header className="panel-head">
        <h2>Palette</h2>
        <button type="button" aria-label="Close palette" onClick={onClose}>
          ×
        </button>
      </header>
      <p className="muted">Drag a function onto the canvas to add a processor that runs it.</p>
      {sources.length === 0 && (
        <p className="muted">No code in use yet: add a processor (+ Processor) and give it a git repository first.</p>
      )}
      <ul className="palette-sources">
        {sources.map((source) => (
          <Entry key={key(source)} source={source} flowId={flowId} />
        ))}
      </ul>
    </aside>
  );
}
