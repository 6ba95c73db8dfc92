// Three pages, so a tiny history router: "/" lists flows, "/flows/<id>/" designs one, "/dashboard/" shows the
// cluster. Django serves the app for each (backend/urls.py).
import { useSyncExternalStore } from "react";

export type Route = { page: "flows" } | { page: "designer"; flowId: string } | { page: "dashboard" };

export function parseRoute(path: string): Route {
  if (/^\/dashboard\/?$/.test(path)) return { page: "dashboard" };
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

/** onClick of an in-app link: a plain click navigates here (and asks the leave guard); a modified click (new tab,
 * new window) is left to the browser. */
type Click = Pick<MouseEvent, "preventDefault" | "button" | "metaKey" | "ctrlKey" | "shiftKey" | "altKey">;

export function followLink(event: Click, path: string): void {
  if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  event.preventDefault();
  navigate(path);
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
