// The side panel of one processor: its settings, the functions of its module (discovered from the code at the
// commit its ref resolves to), which of them are sockets, their code, and what can be done to it while it runs.
import { useEffect, useState } from "react";
import { api } from "../api/client";
import type { FunctionInfo, ModuleCode, SocketDoc } from "../api/types";
import { newSocket, type ProcessorFields } from "../graph/model";
import { MSG } from "../messages";
import { selectDirty, selectReadOnly, useDesigner } from "../stores/designer";
import { useStatus } from "../stores/status";
import { notifyError, notifyInfo } from "../stores/toasts";
import { CodeView } from "./CodeView";
import { PureBadge, StatusBadge } from "./ProcessorNode";
import { RecentErrors } from "./RecentErrors";
import { SocketTools } from "./SocketTools";

type TextField =
  | "name" | "git_url" | "ref" | "module" | "subdirectory" | "requirements" | "rate_limit" | "node" | "scheduler";
type NumberField = "concurrency" | "autoscale_max" | "replicas" | "replicas_max" | "retries" | "time_limit";

const TEXT_FIELDS: [TextField, string, string][] = [
  ["name", "Name", "Letters, digits, _ . : - ; unique in the flow"],
  ["git_url", "Git repository", "https://…, git@… or a local path; must be on the trusted list"],
  ["ref", "Ref", "Branch, tag or commit (pinned to its commit when started)"],
  ["module", "Module", "Dotted module path, e.g. sample.processors"],
  ["subdirectory", "Subdirectory", "Where the package lives in the repository (optional)"],
  ["rate_limit", "Rate limit", "e.g. 10/s, 100/m (optional)"],
  ["node", "Node", "Run only on this node (its name or host name); empty: any node"],
  ["scheduler", "Scheduler", "Run only on this scheduler's nodes; empty: any node"],
];
const NUMBER_FIELDS: [NumberField, string, number, number, string?][] = [
  ["concurrency", "Concurrency", 1, 64],
  ["autoscale_max", "Autoscale to", 0, 64, "0: a fixed pool; above concurrency, slots grow up to this while messages wait"],
  ["replicas", "Replicas", 1, 64, "Workers on different nodes consuming the same queues (throughput, failover)"],
  ["replicas_max", "Replicas up to", 0, 64, "0: a fixed number; above replicas, replicas are added while messages pile up"],
  ["retries", "Retries", 0, 100],
  ["time_limit", "Time limit (s)", 1, 86400],
];
const ACTIONS = ["start", "stop", "pause", "resume", "restart"] as const;

function Field({ label, hint, value, error, disabled, onCommit, multiline, type = "text", suggestions }: {
  label: string;
  hint?: string;
  value: string;
  error?: string[];
  disabled: boolean;
  onCommit: (value: string) => void;
  multiline?: boolean;
  type?: string;
  /** Values to offer (a datalist): typing anything else stays allowed. */
  suggestions?: string[];
}) {
  const [draft, setDraft] = useState(value);
  useEffect(() => setDraft(value), [value]);
  const commit = () => {
    if (draft !== value) onCommit(draft);
  };
  const props = {
    "aria-label": label,
    value: draft,
    disabled,
    title: hint,
    onChange: (e: { target: { value: string } }) => setDraft(e.target.value),
    onBlur: commit,
  };
  return (
    <label className="field">
      <span>{label}</span>
      {multiline ? (
        <textarea rows={2} {...props} />
      ) : (
        <input type={type} {...props} list={suggestions?.length ? `${label}-options` : undefined}
          onKeyDown={(e) => e.key === "Enter" && commit()} />
      )}
      {suggestions && suggestions.length > 0 && (
        <datalist id={`${label}-options`}>
          {suggestions.map((option) => <option key={option} value={option} />)}
        </datalist>
      )}
      {error?.map((e) => (
        <span key={e} className="field-error">
          {e}
        </span>
      ))}
    </label>
  );
}

/** The nodes and schedulers a pin may name (empty without the rights to list them: the fields stay free text). */
function useClusterNames(): { nodes: string[]; schedulers: string[] } {
  const [names, setNames] = useState<{ nodes: string[]; schedulers: string[] }>({ nodes: [], schedulers: [] });
  useEffect(() => {
    let live = true;
    Promise.allSettled([api.nodes(), api.schedulers()]).then(([nodes, schedulers]) => {
      if (!live) return;
      setNames({
        nodes: nodes.status === "fulfilled" ? nodes.value.results.map((n) => n.name) : [],
        schedulers: schedulers.status === "fulfilled" ? schedulers.value.results.map((s) => s.name) : [],
      });
    });
    return () => {
      live = false;
    };
  }, []);
  return names;
}

const MEMO_TTL_MAX = 30 * 24 * 3600;

/** A socket's own settings: whether its results are memoized (pure) and for how long; saved with the graph. */
function SocketSettings({ socket, readOnly, errorsOf, onChange }: {
  socket: SocketDoc;
  readOnly: boolean;
  errorsOf: (field: string) => string[] | undefined;
  onChange: (patch: Partial<SocketDoc>) => void;
}) {
  return (
    <div className="socket-settings" data-testid={`socket-settings-${socket.name}`}>
      <label className="field-check" title={MSG.pure.hint}>
        <input type="checkbox" checked={Boolean(socket.pure)} disabled={readOnly}
          onChange={(e) => onChange({ pure: e.target.checked })} />
        <span>Pure (memoize results)</span>
      </label>
      {errorsOf("pure")?.map((e) => <span key={e} className="field-error">{e}</span>)}
      <Field label="Memo TTL (s)" type="number" value={socket.memo_ttl == null ? "" : String(socket.memo_ttl)}
        hint={MSG.pure.ttlHint} error={errorsOf("memo_ttl")} disabled={readOnly || !socket.pure}
        onCommit={(v) => {
          if (!v.trim()) return onChange({ memo_ttl: null });
          const n = Number(v);
          if (!Number.isInteger(n) || n < 1 || n > MEMO_TTL_MAX) notifyError(MSG.pure.ttlRange(MEMO_TTL_MAX));
          else onChange({ memo_ttl: n });
        }} />
    </div>
  );
}

function FunctionRow({ fn, socket, readOnly, onToggle }: {
  fn: FunctionInfo;
  socket: SocketDoc | undefined;
  readOnly: boolean;
  onToggle: (on: boolean) => void;
}) {
  const [showCode, setShowCode] = useState(false);
  return (
    <li className="function" data-testid={`function-${fn.name}`}>
      <label className="function-head">
        <input type="checkbox" checked={!!socket} disabled={readOnly} onChange={(e) => onToggle(e.target.checked)}
          aria-label={`Socket for ${fn.name}`} />
        <code>
          {fn.name}
          {fn.signature}
        </code>
        {fn.generator && <span className="badge">generator</span>}
        {fn.accepts_plugs && <span className="badge">plugs</span>}
      </label>
      {fn.doc && <div className="muted doc">{fn.doc.split("\n")[0]}</div>}
      <button type="button" className="link" onClick={() => setShowCode(!showCode)}>
        {showCode ? "hide code" : "view code"}
      </button>
      {showCode && <CodeView source={fn.source} firstLine={fn.line} />}
    </li>
  );
}

export function ProcessorPanel({ id }: { id: string }) {
  const node = useDesigner((s) => s.nodes.find((n) => n.id === id));
  const index = useDesigner((s) => s.nodes.findIndex((n) => n.id === id));
  const flowId = useDesigner((s) => s.flowId);
  const readOnly = useDesigner(selectReadOnly);
  const dirty = useDesigner(selectDirty);
  const saved = useDesigner((s) => s.savedIds.has(id));
  const fieldErrors = useDesigner((s) => s.fieldErrors);
  const focusId = useDesigner((s) => s.panelSocket);
  const { updateProcessor, setSockets, openPanel } = useDesigner.getState();
  const status = useStatus((s) => s.byId[id]);
  const cluster = useClusterNames();
  const [code, setCode] = useState<ModuleCode | null>(null);
  const [discovering, setDiscovering] = useState(false);
  const [discoverError, setDiscoverError] = useState("");
  const [acting, setActing] = useState("");

  useEffect(() => {
    setCode(null);
    setDiscoverError("");
  }, [id]);

  if (!node) return null;
  const p = node.data.processor;
  const focused = p.sockets.find((s) => s.id === focusId);
  const errorsOf = (field: string) => fieldErrors[`processors[${index}].${field}`] ?? fieldErrors[`processors.${index}.${field}`];
  const socketErrorsOf = (k: number) => (field: string) => errorsOf(`sockets[${k}].${field}`) ?? errorsOf(`sockets.${k}.${field}`);
  const updateSocket = (socketId: string, patch: Partial<SocketDoc>) =>
    setSockets(id, p.sockets.map((s) => (s.id === socketId ? { ...s, ...patch } : s)));
  const commitField = (field: keyof ProcessorFields, value: unknown) => updateProcessor(id, { [field]: value });

  async function discover() {
    if (!flowId) return;
    setDiscovering(true);
    setDiscoverError("");
    try {
      // The pinned commit's code for a saved, started processor whose settings are unchanged; otherwise what
      // the settings in the panel point at now.
      const pinned = saved && status?.commit && !dirty;
      const answer = pinned
        ? await api.processorCode(id)
        : await api.discover(flowId, { git_url: p.git_url, ref: p.ref, module: p.module, subdirectory: p.subdirectory });
      setCode(answer);
      if (answer.subdirectory_found && answer.subdirectory !== undefined && !readOnly) {
        // The module is elsewhere in the repository than the panel said: use where it is (workers import from it).
        commitField("subdirectory", answer.subdirectory);
        notifyInfo(MSG.subdirectoryFound(p.module, answer.subdirectory));
      }
    } catch (error) {
      setDiscoverError((error as Error).message);
    } finally {
      setDiscovering(false);
    }
  }

  function toggle(fn: FunctionInfo, on: boolean) {
    if (on) {
      const taken = new Set(useDesigner.getState().nodes.flatMap((n) => n.data.processor.sockets.map((s) => s.name)));
      let name = `${p.name}.${fn.name}`;
      for (let i = 2; taken.has(name); i++) name = `${p.name}.${fn.name}-${i}`;
      setSockets(id, [...p.sockets, newSocket(name, fn.name)]);
    } else {
      setSockets(id, p.sockets.filter((s) => s.function !== fn.name));
    }
  }

  async function act(action: string) {
    setActing(action);
    try {
      useStatus.getState().merge(await api.processorAction(id, action));
    } catch (error) {
      notifyError(error);
    } finally {
      setActing("");
    }
  }

  return (
    <aside className="panel" aria-label={`Processor ${p.name}`} data-testid="processor-panel">
      <header className="panel-head">
        <h2>{p.name}</h2>
        <StatusBadge id={id} />
        <button type="button" aria-label="Close panel" onClick={() => openPanel(null)}>
          ×
        </button>
      </header>
      {status?.status === "error" && status.status_message && (
        <div className="error-box" data-testid="status-message">{status.status_message}</div>
      )}
      {status && status.status !== "error" && status.status_message && (
        <div className="muted">{status.status_message}</div>
      )}
      {status?.placement && status.placement.length > 0 && (
        <ul className="placement" data-testid="placement" aria-label="Where its replicas run">
          {status.placement.map((r) => (
            <li key={`${r.replica}-${r.node}`} title={r.status_message}>
              replica {r.replica} on <strong>{r.node}</strong> ({r.cpus} slot{r.cpus === 1 ? "" : "s"}):{" "}
              <span className={`badge badge-${r.status}`}>{r.status}</span>
              {r.moving_to && <> moving to <strong>{r.moving_to}</strong></>}
            </li>
          ))}
        </ul>
      )}

      {focused && (
        <section className="socket-focus" data-testid="socket-focus">
          <h3>
            Socket <code>{focused.name}</code> → {focused.function}
          </h3>
          {saved && focused.queue ? <SocketTools key={focused.id} socket={focused} /> : <p className="muted">{MSG.saveFirst}</p>}
        </section>
      )}

      <section>
        <h3>Run</h3>
        {!saved ? (
          <p className="muted">{MSG.saveFirst}</p>
        ) : (
          <div className="button-row">
            {ACTIONS.map((action) => (
              <button key={action} type="button" disabled={!!acting} onClick={() => void act(action)}>
                {acting === action ? `${action}…` : action[0].toUpperCase() + action.slice(1)}
              </button>
            ))}
          </div>
        )}
        {saved && dirty && <p className="muted">Unsaved changes run only after Save (a running processor then restarts with them by itself).</p>}
      </section>

      {saved && (
        <section>
          <h3>Recent failures</h3>
          <RecentErrors processorId={id} socketNames={Object.fromEntries(p.sockets.map((s) => [s.id, s.name]))} />
        </section>
      )}

      <section>
        <h3>Settings</h3>
        {TEXT_FIELDS.map(([field, label, hint]) => (
          <Field key={field} label={label} hint={hint} value={String(p[field] ?? "")} error={errorsOf(field)}
            disabled={readOnly} onCommit={(v) => commitField(field, v.trim())}
            suggestions={field === "node" ? cluster.nodes : field === "scheduler" ? cluster.schedulers : undefined} />
        ))}
        {NUMBER_FIELDS.map(([field, label, min, max, hint]) => (
          <Field key={field} label={label} type="number" value={String(p[field] ?? 0)} error={errorsOf(field)}
            disabled={readOnly} hint={hint ?? `${min}–${max}`}
            onCommit={(v) => {
              const n = Number(v);
              if (!Number.isInteger(n) || n < min || n > max) notifyError(`${label}: give a whole number from ${min} to ${max}.`);
              else commitField(field, n);
            }} />
        ))}
        <Field label="Requirements" multiline value={p.requirements} error={errorsOf("requirements")}
          hint="Extra pip requirements, one per line" disabled={readOnly} onCommit={(v) => commitField("requirements", v)} />
      </section>

      <section>
        <h3>Functions</h3>
        <button type="button" onClick={() => void discover()} disabled={discovering || !p.git_url || !p.module}
          title={!p.git_url || !p.module ? "Give the git repository and the module first." : ""}>
          {discovering ? "Reading the code…" : "Discover functions"}
        </button>
        {discoverError && <div className="error-box" role="alert">{discoverError}</div>}
        {code && (
          <>
            <p className="muted" data-testid="code-commit">
              {code.module} ({code.path}) at commit <code>{code.commit.slice(0, 10)}</code>
              {code.pinned ? " (pinned)" : ` (${code.ref})`}
            </p>
            {code.functions.length === 0 && <p className="muted">The module has no public functions.</p>}
            <ul className="functions">
              {code.functions.map((fn) => (
                <FunctionRow key={fn.name} fn={fn} socket={p.sockets.find((s) => s.function === fn.name)}
                  readOnly={readOnly} onToggle={(on) => toggle(fn, on)} />
              ))}
            </ul>
          </>
        )}
      </section>

      <section>
        <h3>Sockets</h3>
        {p.sockets.length === 0 && <p className="muted">{MSG.noSockets}</p>}
        {p.sockets.map((socket, k) => (
          <details key={socket.id} className="socket" open={p.sockets.length === 1}>
            <summary>
              <code>{socket.name}</code> → {socket.function}
              {socket.pure && <> <PureBadge socket={socket} /></>}
              {socket.queue && <span className="muted"> · queue {socket.queue}</span>}
            </summary>
            <SocketSettings socket={socket} readOnly={readOnly} errorsOf={socketErrorsOf(k)}
              onChange={(patch) => updateSocket(socket.id, patch)} />
            {socket.id === focused?.id ? (
              <p className="muted">Its tools are at the top of this panel.</p>
            ) : saved && socket.queue ? (
              <SocketTools socket={socket} />
            ) : (
              <p className="muted">{MSG.saveFirst}</p>
            )}
          </details>
        ))}
      </section>
    </aside>
  );
}
