// The flows list: what the user may see, and the list-level writes (create, rename, delete, duplicate, import).
import { create } from "zustand";
import { api, messagesWaiting } from "../api/client";
import { MSG } from "../messages";
import type { FlowSummary } from "../api/types";

interface FlowsState {
  flows: FlowSummary[];
  loading: boolean;
  error: string;
  refresh: () => Promise<void>;
  create: (name: string) => Promise<FlowSummary>;
  rename: (flow: FlowSummary, name: string) => Promise<void>;
  remove: (flow: FlowSummary) => Promise<void>;
  duplicate: (flow: FlowSummary) => Promise<string>;
  importDocument: (document: unknown, name?: string) => Promise<string>;
}

export function copyName(name: string, taken: Set<string>): string {
  const base = `${name}-copy`.slice(0, 190);
  if (!taken.has(base)) return base;
  for (let i = 2; ; i++) if (!taken.has(`${base}-${i}`)) return `${base}-${i}`;
}

export const useFlows = create<FlowsState>((set, get) => ({
  flows: [],
  loading: true,
  error: "",
  refresh: async () => {
    set({ loading: true });
    try {
      const page = await api.flows();
      set({ flows: page.results, loading: false, error: "" });
    } catch (error) {
      set({ loading: false, error: (error as Error).message });
    }
  },
  create: async (name) => {
    const flow = await api.flowCreate(name);
    await get().refresh();
    return flow;
  },
  rename: async (flow, name) => {
    await api.flowRename(flow.id, name, flow.version);
    await get().refresh();
  },
  remove: async (flow) => {
    try {
      await api.flowDelete(flow.id);
    } catch (error) {
      if (!messagesWaiting(error) || !window.confirm(MSG.dropWaiting(error.message))) throw error;
      await api.flowDelete(flow.id, true);
    }
    set({ flows: get().flows.filter((f) => f.id !== flow.id) });
  },
  duplicate: async (flow) => {
    const document = await api.flowExport(flow.id);
    const taken = new Set(get().flows.map((f) => f.name));
    const graph = await api.flowImport(document, copyName(flow.name, taken));
    await get().refresh();
    return graph.id;
  },
  importDocument: async (document, name) => {
    const graph = await api.flowImport(document, name);
    await get().refresh();
    return graph.id;
  },
}));
