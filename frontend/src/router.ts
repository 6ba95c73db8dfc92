// Two pages, so a tiny history router: "/" lists flows, "/flows/<id>/" designs one. Django serves the app for both.
import { useSyncExternalStore } from "react";

export type Route = { page: "flows" } | { page: "designer"; flowId: string };

export function parseRoute(path: string): Route {
  const match = path.match(/^\/flows\/([0-9a-fA-F-]{36})\/?$/);
  return match ? { page: "designer", flowId: match[1] } : { page: "flows" };
}

const listeners = new Set<() => void>();
let guard: (() => boolean) | null = null;

/** A check run before leaving the page in-app (unsaved changes); false keeps the user where they are. */
export function setLeaveGuard(check: (() => boolean) | null): void {
  guard = check;
}

export function navigate(path: string): void {
  if (guard && !guard()) return;
  window.history.pushState({}, "", path);
  listeners.forEach((l) => l());
}

window.addEventListener("popstate", () => listeners.forEach((l) => l()));

export function useRoute(): Route {
  const path = useSyncExternalStore(
    (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    () => window.location.pathname,
  );
  return parseRoute(path);
}
