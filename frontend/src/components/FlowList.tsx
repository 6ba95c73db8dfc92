// The flows a user may see. Each row says whether it opens for editing or read-only, and why.
import { useEffect, useRef, useState } from "react";
import { api } from "../api/client";
import type { FlowSummary } from "../api/types";
import { MSG } from "../messages";
import { navigate } from "../router";
import { useFlows } from "../stores/flows";
import { notifyError, notifyInfo } from "../stores/toasts";
import { downloadJson } from "./download";

function FlowRow({ flow }: { flow: FlowSummary }) {
  const { rename, remove, duplicate } = useFlows();
  const [editing, setEditing] = useState(false);
  const [name, setName] = useState(flow.name);
  const [busy, setBusy] = useState(false);
  const canChange = flow.rights?.change ?? false;
  const canDelete = flow.rights?.delete ?? false;

  async function run(action: () => Promise<unknown>) {
    setBusy(true);
    try {
      await action();
    } catch (error) {
      notifyError(error);
    } finally {
      setBusy(false);
    }
  }

  return (
    <li className="flow-row" data-testid={`flow-${flow.name}`}>
      {editing ? (
        <form
          className="inline-form"
          onSubmit={(e) => {
            e.preventDefault();
            void run(async () => {
              await rename(flow, name.trim());
              setEditing(false);
            });
          }}
        >
          <input aria-label="New name" value={name} autoFocus onChange={(e) => setName(e.target.value)} />
          <button type="submit" disabled={busy}>
            Rename
          </button>
          <button type="button" onClick={() => setEditing(false)}>
            Cancel
          </button>
        </form>
      ) : (
        <a
          className="flow-name"
          href={`/flows/${flow.id}/`}
          onClick={(e) => {
            e.preventDefault();
            navigate(`/flows/${flow.id}/`);
          }}
        >
          {flow.name}
        </a>
      )}
      <span className="muted">
        owner {flow.owner} · version {flow.version}
      </span>
      {!canChange && (
        <span className="badge badge-readonly" title={flow.rights?.reason}>
          view only
        </span>
      )}
      <span className="row-actions">
        <button type="button" disabled={!canChange || busy} title={canChange ? "" : flow.rights?.reason}
          onClick={() => setEditing(true)}>
          Rename
        </button>
        <button type="button" disabled={busy} onClick={() => void run(async () => {
          const id = await duplicate(flow);
          notifyInfo(`Duplicated ${flow.name}.`);
          return id;
        })}>
          Duplicate
        </button>
        <button type="button" disabled={busy}
          onClick={() => void run(async () => downloadJson(`${flow.name}.flow.json`, await api.flowExport(flow.id)))}>
          Export
        </button>
        <button type="button" className="danger" disabled={!canDelete || busy}
          title={canDelete ? "" : "You may not delete this flow."}
          onClick={() => {
            if (window.confirm(`Delete flow ${flow.name} with its processors, sockets and plugs?`))
              void run(() => remove(flow));
          }}>
          Delete
        </button>
      </span>
    </li>
  );
}

export function FlowList() {
  const { flows, loading, error, refresh, create, importDocument } = useFlows();
  const [name, setName] = useState("");
  const [creating, setCreating] = useState(false);
  const fileInput = useRef<HTMLInputElement>(null);

  useEffect(() => {
    void refresh();
  }, [refresh]);

  async function onImport(file: File) {
    let document: unknown;
    try {
      document = JSON.parse(await file.text());
    } catch (error) {
      notifyError(MSG.importNotJson((error as Error).message));
      return;
    }
    try {
      const id = await importDocument(document);
      navigate(`/flows/${id}/`);
    } catch (error) {
      notifyError(error);
    }
  }

  return (
    <main className="page">
      <h1>Flows</h1>
      <form
        className="inline-form"
        onSubmit={(e) => {
          e.preventDefault();
          if (!name.trim()) return notifyError(MSG.nameEmpty("flow"));
          setCreating(true);
          create(name.trim())
            .then((flow) => navigate(`/flows/${flow.id}/`))
            .catch(notifyError)
            .finally(() => setCreating(false));
        }}
      >
        <input aria-label="New flow name" placeholder="New flow name" value={name} onChange={(e) => setName(e.target.value)} />
        <button type="submit" disabled={creating}>
          {creating ? "Creating…" : "Create flow"}
        </button>
        <button type="button" onClick={() => fileInput.current?.click()}>
          Import…
        </button>
        <input
          ref={fileInput}
          type="file"
          accept="application/json,.json"
          hidden
          data-testid="import-file"
          onChange={(e) => {
            const file = e.target.files?.[0];
            e.target.value = "";
            if (file) void onImport(file);
          }}
        />
      </form>
      {error && (
        <div className="error-box" role="alert">
          {error} <button type="button" onClick={() => void refresh()}>Retry</button>
        </div>
      )}
      {loading && flows.length === 0 ? (
        <p className="muted">Loading flows…</p>
      ) : flows.length === 0 && !error ? (
        <p className="muted">No flows yet. Give a name above and create your first one.</p>
      ) : (
        <ul className="flow-list">
          {flows.map((flow) => (
            <FlowRow key={flow.id} flow={flow} />
          ))}
        </ul>
      )}
    </main>
  );
}
