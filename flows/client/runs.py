"""Map runs and taps in the SDK (the API's /api/sockets/{id}/map, /api/maps/, and .../tap): what `ec task map`,
`ec task retry` and `ec tap` do, for programs.

    run = Socket("count", flow="demo").map(open("words.txt").read().splitlines())
    status = run.status(wait=60)      # {"succeeded", "failed": [...], "pending": [...], "aggregate", ...}
    run.retry(wait=60)                # exactly the parcels that did not reach aggregation

    for event in tap("plug", plug_id, seconds=10):   # messages along a plug as they pass
        print(event["payload"])
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from flows.client.client import Client, default_client

MAX_WAIT = 300.0


class MapRun:
    """One map run: parcels sent to a socket, a receipt each."""

    def __init__(self, client: Client, data: dict[str, Any]) -> None:
        self.client = client
        self.id = str(data["id"])
        self.data = data

    def status(self, wait: float = 0) -> dict[str, Any]:
        """The receipts; with `wait`, once every parcel answered or `wait` seconds passed (at most 300)."""
        wait = min(max(wait, 0.0), MAX_WAIT)
        self.data = self.client.api.request("GET", f"/api/maps/{self.id}/", params={"wait": wait}, timeout=wait + 30)
        return self.data

    def retry(self, *, pending: bool = False, wait: float = 0) -> dict[str, Any]:
        """Send again the parcels that failed (and, with `pending`, those with no answer yet); their indices are in
        the answer's "retried"."""
        wait = min(max(wait, 0.0), MAX_WAIT)
        self.data = self.client.api.request(
            "POST", f"/api/maps/{self.id}/retry/", json={"pending": pending}, params={"wait": wait}, timeout=wait + 30
        )
        return self.data

    def __repr__(self) -> str:
        return f"MapRun({self.id!r})"


def tap(
    kind: str,
    target_id: str,
    *,
    seconds: float = 10.0,
    sample: float = 1.0,
    rate: float = 10.0,
    client: Client | None = None,
) -> Iterator[dict[str, Any]]:
    """The messages passing along a plug (`kind` "plug") or into a socket ("socket") during the next `seconds`,
    as events {"kind", "name", "from", "to", "message_id", "trace_id", "attempt", "at", "payload" (a preview)}."""
    api = (client or default_client()).api
    deadline = time.monotonic() + seconds
    cursor = ""
    while (left := deadline - time.monotonic()) > 0:
        wait = min(10.0, left)
        params: dict[str, Any] = {"wait": f"{wait:.2f}", "sample": sample, "rate": rate}
        if cursor:
            params["after"] = cursor
        answer = api.request("GET", f"/api/{kind}s/{target_id}/tap/", params=params, timeout=wait + 30)
        cursor = answer.get("cursor") or cursor
        yield from answer.get("events") or []
