"""Finding a flow the way people name it, by id or by name: shared by the SDK (`Client.flow_id`) and `ec`."""

from __future__ import annotations

import uuid
from typing import Any

from flows.client.errors import ApiError, ClientError
from flows.client.http import Api


def is_id(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def flow(api: Api, name: str, *, listing: str = "") -> dict[str, Any]:
    """The flow with that id or name that the caller may see. Fails with what to give instead; `listing` names the
    command that lists flows, for the command line's messages."""
    hint = f"; `{listing}` lists them" if listing else ""
    if is_id(name):
        try:
            return dict(api.get(f"/api/flows/{name}/"))
        except ApiError as error:
            if error.status == 404:
                raise ClientError(f"no flow {name} that you may see{hint}") from None
            raise
    found = api.all("/api/flows/", name=name)
    if not found:
        raise ClientError(f"no flow named {name} that you may see{hint}")
    if len(found) > 1:
        owners = ", ".join(sorted(str(item["owner"]) for item in found))
        raise ClientError(f"{len(found)} flows are named {name} (owners {owners}): give the flow's id instead")
    return dict(found[0])
