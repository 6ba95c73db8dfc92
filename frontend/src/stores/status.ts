// Run state of a flow's processors, apart from the graph: a status change re-renders only the badge of that
// processor, never the graph. The flow's websocket (live/flow.ts) keeps it current with `status` frames and each
// snapshot; the REST answers of the user's own start/stop actions land here too, and `refresh` is a one-off read.
import { create } from "zustand";
import { api } from "../api/client";
import type { ProcessorRow } from "../api/types";
import type { ProcessorState } from "../live/frames";

interface StatusState {
  byId: Record<string, ProcessorRow>;
  error: string;
  set: (rows: ProcessorRow[]) => void;
  merge: (row: ProcessorRow) => void;
  /** Live states (no name or commit in them): merged into the rows; the ids whose status changed. */
  applyStates: (states: ProcessorState[]) => string[];
  refresh: (flowId: string) => Promise<void>;
}

// Each refresh is numbered; an answer that comes back after a later refresh's is dropped, so an older read (a slow
// one sent at a save) never overwrites a newer one (sent when a processor came up, with its pinned commit).
let reads = 0;

export const useStatus = create<StatusState>((set, get) => ({
  byId: {},
  error: "",
  set: (rows) => set({ byId: Object.fromEntries(rows.map((r) => [r.id, r])), error: "" }),
  merge: (row) => set({ byId: { ...get().byId, [row.id]: row } }),
  applyStates: (states) => {
    const current = get().byId;
    let next: Record<string, ProcessorRow> | null = null;
    const moved: string[] = [];
    for (const state of states) {
      const old = current[state.id];
      if (
        old &&
        old.status === state.status &&
        old.requested_status === state.requested_status &&
        old.status_message === state.status_message
      ) continue;
      next ??= { ...current };
      next[state.id] = { ...old, name: old?.name ?? "", commit: old?.commit ?? "", ...state };
      if (old?.status !== state.status) moved.push(state.id);
    }
    if (next) set({ byId: next });
    return moved;
  },
  refresh: async (flowId) => {
    const read = ++reads;
    try {
      const page = await api.processors(flowId);
      if (read !== reads) return; // a later refresh was sent meanwhile: its answer counts
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
            old.commit !== r.commit ||
            JSON.stringify(old.placement ?? []) !== JSON.stringify(r.placement ?? [])
          );
        });
      if (changed) get().set(page.results);
      else if (get().error) set({ error: "" });
    } catch (error) {
      set({ error: error instanceof Error ? error.message : String(error) });
    }
  },
}));
