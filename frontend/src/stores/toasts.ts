// Notices for the person at the screen: information fades after 4 s, errors after 15 s (or when closed), and
// every notice belongs to the page it was raised on: moving to another page (another flow) clears them.
import { create } from "zustand";

export interface Toast {
  id: number;
  kind: "error" | "info";
  text: string;
}

interface ToastState {
  toasts: Toast[];
  push: (kind: Toast["kind"], text: string) => void;
  dismiss: (id: number) => void;
  clear: () => void;
}

export const INFO_MS = 4000;
export const ERROR_MS = 15000;

let next = 1;

export const useToasts = create<ToastState>((set, get) => ({
  toasts: [],
  push: (kind, text) => {
    const id = next++;
    // The same refusal repeated (dragging a plug twice onto a bad input) shows once.
    const others = get().toasts.filter((t) => t.text !== text);
    set({ toasts: [...others.slice(-4), { id, kind, text }] });
    setTimeout(() => get().dismiss(id), kind === "info" ? INFO_MS : ERROR_MS);
  },
  dismiss: (id) => set({ toasts: get().toasts.filter((t) => t.id !== id) }),
  clear: () => set({ toasts: [] }),
}));

export const notifyError = (error: unknown) =>
  useToasts.getState().push("error", error instanceof Error ? error.message : String(error));
export const notifyInfo = (text: string) => useToasts.getState().push("info", text);
