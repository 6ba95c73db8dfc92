// Notices for the person at the screen: errors stay until closed, information fades.
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
}

let next = 1;

export const useToasts = create<ToastState>((set, get) => ({
  toasts: [],
  push: (kind, text) => {
    const id = next++;
    // The same refusal repeated (dragging a plug twice onto a bad input) shows once.
    const others = get().toasts.filter((t) => t.text !== text);
    set({ toasts: [...others.slice(-4), { id, kind, text }] });
    if (kind === "info") setTimeout(() => get().dismiss(id), 4000);
  },
  dismiss: (id) => set({ toasts: get().toasts.filter((t) => t.id !== id) }),
}));

export const notifyError = (error: unknown) =>
  useToasts.getState().push("error", error instanceof Error ? error.message : String(error));
export const notifyInfo = (text: string) => useToasts.getState().push("info", text);
