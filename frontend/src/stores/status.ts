// Run state of a flow's processors, polled apart from the graph: a status change re-renders only the badge of
// that processor, never the graph (live websocket updates replace the poll in the metrics work).
import { create } from "zustand";
import { api } from "../api/client";
import type { ProcessorRow } from "../api/types";

interface StatusState {
  byId: Record<string, ProcessorRow>;
  error: string;
  set: (rows: ProcessorRow[]) => void;
  merge: (row: ProcessorRow) => void;
  refresh: (flowId: string) => Promise<void>;
}

export const useStatus = create<StatusState>((set, get) => ({
  byId: {},
  error: "",
  set: (rows) => set({ byId: Object.fromEntries(rows.map((r) => [r.id, r])), error: "" }),
  merge: (row) => set({ byId: { ...get().byId, [row.id]: row } }),
  refresh: async (flowId) => {
    try {
      const page = await api.processors(flowId);
      const current = get().byId;
      const changed =
        page.results.length !== Object.keys(current).length ||
        page.results.some((r) => {
          const old = current[r.id];
          return (
            !old ||
            old.status !== r.status ||
            old.requested_status !== r.requested_status ||
            old.status_message !== r.status_message ||
            old.commit !== r.commit
          );
        });
      if (changed) get().set(page.results);
      else if (get().error) set({ error: "" });
    } catch (error) {
      set({ error: error instanceof Error ? error.message : String(error) });
    }
  },
}));

/** Poll while the page is visible, the first time after `everyMs` (the graph document brings the status it was
 * loaded with, so the page does not ask twice while it opens); returns the stop function. */
export function pollStatus(flowId: string, everyMs = 2000): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  const tick = async () => {
    if (!document.hidden) await useStatus.getState().refresh(flowId);
    if (!stopped) timer = setTimeout(tick, everyMs);
  };
  timer = setTimeout(tick, everyMs);
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
