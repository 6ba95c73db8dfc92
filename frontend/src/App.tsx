import { useEffect, useState } from "react";
import { api, csrfToken } from "./api/client";
import type { Me } from "./api/types";
import { Designer } from "./components/Designer";
import { FlowList } from "./components/FlowList";
import { Toasts } from "./components/Toasts";
import { useRoute } from "./router";

export function App() {
  const route = useRoute();
  const [me, setMe] = useState<Me | null>(null);
  useEffect(() => {
    api.me().then(setMe, () => setMe(null));
  }, []);
  return (
    <div className="app">
      <header className="topbar">
        <a href="/" className="brand">ElasticCode</a>
        <nav>
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
      {route.page === "designer" ? <Designer key={route.flowId} flowId={route.flowId} /> : <FlowList />}
      <Toasts />
    </div>
  );
}
