"""`Client(url, token)`: one connection to a server, shared by the objects and compositions made with it."""

from __future__ import annotations

import threading
from typing import Any

from flows.client import config, lookup
from flows.client.errors import ApiError, ClientError
from flows.client.http import Api


class Client:
    """A server and a token. `Client()` reads them from ELASTICCODE_URL / ELASTICCODE_TOKEN or from the file
    `ec login` writes (~/.config/elasticcode/config.toml)."""

    def __init__(self, url: str | None = None, token: str | None = None, *, timeout: float = 30.0) -> None:
        settings = config.load(url, token)
        self.url = settings.url
        self.api = Api(settings.url, settings.token, timeout=timeout)
        self._default_flow: str | None = None

    def __repr__(self) -> str:
        return f"Client({self.url!r})"

    def default_flow(self) -> str:
        """The id of the caller's default flow (their flow named "default", made on first use)."""
        if self._default_flow is None:
            self._default_flow = str(self.api.post("/api/flows/default/")["id"])
        return self._default_flow

    def flow_id(self, flow: str | None) -> str:
        """A flow given by id or by name (None: the default flow)."""
        return str(lookup.flow(self.api, flow)["id"]) if flow else self.default_flow()

    def one(self, kind: str, name: str, *, flow: str | None = None, **filters: Any) -> dict[str, Any] | None:
        """The object of that kind ("sockets", "processors", "queues"…) with that name, None when there is none."""
        params = {"name": name, **filters}
        if flow:
            params["flow"] = flow
        found = self.api.all(f"/api/{kind}/", **params)
        if len(found) > 1:
            flows = ", ".join(sorted({str(item.get("flow", "?")) for item in found}))
            raise ClientError(f"{len(found)} {kind} are named {name} (flows {flows}): name the flow")
        return found[0] if found else None

    def close(self) -> None:
        self.api.close()


_default: Client | None = None
_lock = threading.Lock()


def default_client() -> Client:
    """The client objects use when none is given: made from the environment or the config file on first use."""
    global _default
    with _lock:
        if _default is None:
            _default = Client()
        return _default


def set_default_client(client: Client | None) -> None:
    global _default
    with _lock:
        _default = client


def created_or_existing(fn: Any) -> Any:
    """Run a create; a 409 (made meanwhile by someone else) is not an error for get-or-create."""
    try:
        return fn()
    except ApiError as error:
        if error.status == 409:
            return None
        raise
