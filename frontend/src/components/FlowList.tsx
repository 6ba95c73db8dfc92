// The flows a user may see. Each row says whether it opens for editing or read-only, and why.
import { useEffect, useRef, useState } from "react";
import { api } from "../api/client";
import type { FlowSummary, ProcessorRow } from "../api/types";
import { Sparkline } from "./MetricsStrip";
import { MSG } from "../messages";
import { navigate } from "../router";
import { useFlows } from "../stores/flows";
import { notifyError, notifyInfo } from "../stores/toasts";
import { downloadJson } from "./download";

/** What each flow is doing: its processors by run status, and messages in per 5 minutes over the last hour. */
interface Activity {
  states: Record<string, Record<string, number>>;
  hour: Record<string, number[]>;
  errors: Record<string, number>;
}

const HOUR = 3600;
const STEP = 300;

function useActivity(flows: FlowSummary[]): Activity {
  const [activity, setActivity] = useState<Activity>({ states: {}, hour: {}, errors: {} });
  const ids = flows.map((f) => f.id).join(",");
  useEffect(() => {
    let stopped = false;
    const load = async () => {
      const end = Math.floor(Date.now() / 1000 / STEP) * STEP + STEP;
      const [processors, metrics] = await Promise.allSettled([
        api.allProcessors(),
        api.flowsMetrics({ start: end - HOUR, end, step: STEP }),
      ]);
      if (stopped) return;
      const states: Activity["states"] = {};
      if (processors.status === "fulfilled") {
        for (const p of processors.value.results as ProcessorRow[]) {
          if (!p.flow) continue;
          const counts = (states[p.flow] ??= {});
          counts[p.status] = (counts[p.status] ?? 0) + 1;
        }
      }
      const hour: Activity["hour"] = {};
      const errors: Activity["errors"] = {};
      if (metrics.status === "fulfilled") {
        for (const f of metrics.value.flows) {
          hour[f.id] = f.points.map((p) => p.in);
          errors[f.id] = f.points.reduce((sum, p) => sum + p.errors, 0);
        }
      }
      setActivity({ states, hour, errors });
    };
    void load();
    const timer = setInterval(() => void load(), 15000);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, [ids]);
  return activity;
}

const STATE_ORDER = ["running", "starting", "paused", "error", "stopped"];

function FlowActivity({ states, hour, errors = 0 }: { states?: Record<string, number>; hour?: number[]; errors?: number }) {
  const total = (hour ?? []).reduce((a, b) => a + b, 0);
  return (
    <span className="flow-activity" data-testid="flow-activity">
      {states && Object.keys(states).length > 0 ? (
        STATE_ORDER.filter((s) => states[s]).map((s) => (
          <span key={s} className={`badge badge-${s}`} title={`${states[s]} processor(s) ${s}`}>
            {states[s]} {s}
          </span>
        ))
      ) : (
        <span className="muted">no processors</span>
      )}
      <Sparkline values={hour && hour.length ? hour : [0, 0]} title={`Calls, last hour: ${total}`} />
      <span className="muted" title="Calls of the flow's sockets in the last hour (a retried message counts each attempt)">
        {total} calls/h
      </span>
      {errors > 0 && (
        <span className="metric-bad" title="Messages that failed for good in the last hour">
          {errors} failed/h
        </span>
      )}
    </span>
  );
}

function FlowRow({ flow, activity }: { flow: FlowSummary; activity: Activity }) {
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
      {/* The name and what the flow is doing take the room left beside the buttons, and wrap in it: the buttons
          never move past the row's edge (found by a newcomer once "failed/h" showed). */}
      <div className="flow-main">
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
        <div className="flow-meta">
          <span className="muted">
            owner {flow.owner} · version {flow.version}
          </span>
          {!canChange && (
            <span className="badge badge-readonly" title={flow.rights?.reason}>
              view only
            </span>
          )}
          <FlowActivity states={activity.states[flow.id]} hour={activity.hour[flow.id]} errors={activity.errors[flow.id]} />
        </div>
      </div>
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
  const activity = useActivity(flows);
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
            <FlowRow key={flow.id} flow={flow} activity={activity} />
          ))}
        </ul>
      )}
    </main>
  );
}
