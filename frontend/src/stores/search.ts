// Canvas search results, apart from the graph so highlighting a match re-renders only the matching nodes.
import { create } from "zustand";

interface SearchState {
  text: string;
  matches: string[];
  current: number;
  set: (text: string, matches: string[]) => void;
  step: (by: number) => string | null;
}

export const useSearch = create<SearchState>((set, get) => ({
  text: "",
  matches: [],
  current: 0,
  set: (text, matches) => set({ text, matches, current: 0 }),
  step: (by) => {
    const { matches, current } = get();
    if (!matches.length) return null;
    const next = (current + by + matches.length) % matches.length;
    set({ current: next });
    return matches[next];
  },
}));
