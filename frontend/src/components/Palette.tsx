// The palette: code already in use (this flow's processors, and those of the other flows you may see), and the
// trusted repositories (the admin's and the settings' list, or any URL that matches it) browsed module by module;
// each module's functions are read at the commit its ref resolves to. Drag a function onto the canvas to add a
// processor running it, configured from that module. Code is read when an entry is opened, not with the page.
import { type FormEvent, useEffect, useMemo, useState } from "react";
import { api } from "../api/client";
import type { FunctionInfo, RepositoryModules, TrustedRepository } from "../api/types";
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
        title={`${source.module} · ${source.git_url} @ ${source.ref}${source.subdirectory ? ` (${source.subdirectory}/)` : ""}`}>
        {open ? "▾" : "▸"} {source.module} <span className="muted">· {repo}@{source.ref}</span>
      </button>
      {open && !functions && !error && <div className="muted">Reading the code…</div>}
      {error && <div className="field-error">{error}</div>}
      {open && functions && (
        <ul className="palette-functions">
          {functions.length === 0 && <li className="muted">No public functions.</li>}
          {functions.map((fn) => (
            <li key={fn.name} draggable data-testid={`palette-fn-${fn.name}`} title={`${fn.name}${fn.signature}${fn.doc ? `\n\n${fn.doc}` : ""}`}
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

const repoName = (url: string) => url.replace(/\/+$/, "").replace(/^.*[/:]/, "").replace(/\.git$/, "");

/** One repository's modules at `ref` (its default branch when empty), each an Entry of its functions. */
function Repository({ gitUrl, gitRef, flowId }: { gitUrl: string; gitRef: string; flowId: string }) {
  const [answer, setAnswer] = useState<RepositoryModules | null>(null);
  const [error, setError] = useState("");
  useEffect(() => {
    let live = true;
    setAnswer(null);
    setError("");
    api.modules(flowId, gitUrl, gitRef).then(
      (found) => live && setAnswer(found),
      (e: Error) => live && setError(e.message),
    );
    return () => {
      live = false;
    };
  }, [flowId, gitUrl, gitRef]);
  if (error) return <div className="field-error">{error}</div>;
  if (!answer) return <div className="muted">Reading the repository…</div>;
  return (
    <ul className="palette-sources palette-modules" data-testid="palette-modules">
      {answer.modules.length === 0 && <li className="muted">No Python modules at {answer.ref}.</li>}
      {answer.modules.map((m) => (
        <Entry key={`${m.subdirectory}/${m.module}`} flowId={flowId}
          source={{ git_url: answer.git_url, ref: answer.ref, subdirectory: m.subdirectory, module: m.module }} />
      ))}
      {answer.truncated && <li className="muted">The first {answer.modules.length} modules only.</li>}
    </ul>
  );
}

/** A trusted pattern: one that names a repository opens onto its modules; one with wildcards fills the form. */
function Trusted({ entry, flowId, onPattern }: { entry: TrustedRepository; flowId: string; onPattern: (p: string) => void }) {
  const [open, setOpen] = useState(false);
  const note = entry.note ? ` (${entry.note})` : "";
  if (!entry.browsable) {
    return (
      <li>
        <button type="button" className="link palette-source" title={`Any repository matching this pattern${note}`}
          onClick={() => onPattern(entry.pattern.replace(/[*?[].*$/, ""))}>
          ⋯ <code>{entry.pattern}</code>
        </button>
      </li>
    );
  }
  return (
    <li data-testid={`trusted-${repoName(entry.pattern)}`}>
      <button type="button" className="link palette-source" aria-expanded={open} onClick={() => setOpen(!open)}
        title={`${entry.pattern}${note}`}>
        {open ? "▾" : "▸"} {repoName(entry.pattern)} <span className="muted">· trusted{note}</span>
      </button>
      {open && <Repository gitUrl={entry.pattern} gitRef="" flowId={flowId} />}
    </li>
  );
}

/** Any repository the trusted list allows, by URL and ref. */
function Browse({ flowId, url, setUrl }: { flowId: string; url: string; setUrl: (url: string) => void }) {
  const [ref, setRef] = useState("");
  const [shown, setShown] = useState<{ url: string; ref: string } | null>(null);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (url.trim()) setShown({ url: url.trim(), ref: ref.trim() });
  };
  return (
    <>
      <form className="palette-browse" onSubmit={submit}>
        <input aria-label="Repository URL" placeholder="git URL" value={url} onChange={(e) => setUrl(e.target.value)} />
        <input aria-label="Repository ref" placeholder="ref (default branch)" value={ref}
          onChange={(e) => setRef(e.target.value)} />
        <button type="submit">Browse</button>
      </form>
      {shown && <Repository gitUrl={shown.url} gitRef={shown.ref} flowId={flowId} />}
    </>
  );
}

export function Palette({ flowId, onClose }: { flowId: string; onClose: () => void }) {
  const nodes = useDesigner((s) => s.nodes);
  const [others, setOthers] = useState<Source[]>([]);
  const [trusted, setTrusted] = useState<TrustedRepository[]>([]);
  const [url, setUrl] = useState("");
  useEffect(() => {
    api.trustedRepositories().then(setTrusted, () => setTrusted([]));
  }, []);
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
      <h3>In use</h3>
      {sources.length === 0 && <p className="muted">No code in use yet.</p>}
      <ul className="palette-sources">
        {sources.map((source) => (
          <Entry key={key(source)} source={source} flowId={flowId} />
        ))}
      </ul>
      <h3>Trusted repositories</h3>
      {trusted.length === 0 && (
        <p className="muted">None listed: an administrator adds them (ELASTICCODE_TRUSTED_REPOS or the admin).</p>
      )}
      <ul className="palette-sources" data-testid="palette-trusted">
        {trusted.map((entry) => (
          <Trusted key={entry.pattern} entry={entry} flowId={flowId} onPattern={setUrl} />
        ))}
      </ul>
      <h3>Browse a repository</h3>
      <Browse flowId={flowId} url={url} setUrl={setUrl} />
    </aside>
  );
}
