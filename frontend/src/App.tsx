import { lazy, Suspense, useEffect, useState } from "react";
import { api, csrfToken } from "./api/client";
import type { Me } from "./api/types";
import { Designer } from "./components/Designer";
import { FlowList } from "./components/FlowList";
import { Toasts } from "./components/Toasts";
import { followLink, useRoute } from "./router";
import { useToasts } from "./stores/toasts";

// Its own chunk: uPlot and the dashboard load only when someone opens /dashboard/.
const Dashboard = lazy(() => import("./components/dashboard/Dashboard"));

function Page() {
  const route = useRoute();
  if (route.page === "designer") return <Designer key={route.flowId} flowId={route.flowId} />;
  if (route.page === "dashboard") {
    return (
      <Suspense fallback={<main className="page muted">Loading the dashboard…</main>}>
        <Dashboard />
      </Suspense>
    );
  }
  return <FlowList />;
}

export function App() {
  const route = useRoute();
  const [me, setMe] = useState<Me | null>(null);
  const where = route.page === "designer" ? route.flowId : route.page;
  // A notice is about the page it was raised on; it does not follow the user to another flow.
  useEffect(() => useToasts.getState().clear(), [where]);
  useEffect(() => {
    api.me().then(setMe, () => setMe(null));
  }, []);
  return (
    <div className="app">
      <header className="topbar">
        <a href="/" className="brand">ElasticCode</a>
        <nav>
          <a href="/" className={route.page !== "dashboard" ? "current" : undefined} onClick={(e) => followLink(e, "/")}>
            Flows
          </a>
          <a href="/dashboard/" className={route.page === "dashboard" ? "current" : undefined}
            onClick={(e) => followLink(e, "/dashboard/")} data-testid="nav-dashboard">
            Dashboard
          </a>
          <a href="/api/docs/">API</a>
          <a href="/admin/">Admin</a>
        </nav>
        <span className="spacer" />
        {me && <span className="muted" data-testid="me">{me.username}</span>}
        <form method="post" action="/logout/">
          <input type="hidden" name="csrfmiddlewaretoken" value={csrfToken()} />
          <button type="submit" className="link">Log out</button>
        </form>
      </header>
      <Page />
      <Toasts />
    </div>
  );
}
