"""Objects are addressed by name (or id): name → API object, with errors that say what to type instead."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flows.client import lookup
from flows.client.cli.state import Failure, state
from flows.client.errors import ApiError


@dataclass(frozen=True)
class Kind:
    singular: str
    plural: str
    path: str
    name_field: str = "name"  # the object's name in the API
    name_param: str = "name"  # the list filter for it
    in_flow: bool = False  # names are unique per flow, not globally

    def url(self, item_id: str, action: str = "") -> str:
        return f"{self.path}{item_id}/" + (f"{action}/" if action else "")


KINDS: dict[str, Kind] = {
    kind.singular: kind
    for kind in (
        Kind("flow", "flows", "/api/flows/"),
        Kind("processor", "processors", "/api/processors/", in_flow=True),
        Kind("socket", "sockets", "/api/sockets/", in_flow=True),
        Kind("plug", "plugs", "/api/plugs/", in_flow=True),
        Kind("queue", "queues", "/api/queues/"),
        Kind("node", "nodes", "/api/nodes/"),
        Kind("agent", "agents", "/api/agents/"),
        Kind("worker", "workers", "/api/workers/"),
        Kind("scheduler", "schedulers", "/api/schedulers/"),
        Kind("user", "users", "/api/users/", name_field="username", name_param="username"),
        Kind("role", "roles", "/api/groups/"),
        Kind("privilege", "privileges", "/api/privileges/"),
        Kind("call", "calls", "/api/calls/"),
    )
}


def flow_names() -> dict[str, str]:
    """Every visible flow's id → name (fetched once per command)."""
    cache = state().cache
    if "flows" not in cache:
        cache["flows"] = {item["id"]: item["name"] for item in state().api.all("/api/flows/")}
    names: dict[str, str] = cache["flows"]
    return names


def names_of(kind: str, **filters: Any) -> dict[str, str]:
    """id → name of the visible objects of a kind (fetched once per command and filter)."""
    key = f"{kind}:{sorted(filters.items())}"
    cache = state().cache
    if key not in cache:
        cache[key] = {item["id"]: item[KINDS[kind].name_field] for item in state().api.all(KINDS[kind].path, **filters)}
    names: dict[str, str] = cache[key]
    return names


def flow(name: str) -> dict[str, Any]:
    """A flow by name or id."""
    return lookup.flow(state().api, name, listing="ec ls flows")


def flow_id(name: str | None) -> str | None:
    return str(flow(name)["id"]) if name else None


def _by_id(kind: Kind, item_id: str) -> dict[str, Any]:
    try:
        return dict(state().api.get(kind.url(item_id)))
    except ApiError as error:
        if error.status == 404:
            raise Failure(f"no {kind.singular} {item_id} that you may see; `ec ls {kind.plural}` lists them") from None
        raise


def one(kind_name: str, name: str, *, flow_name: str | None = None, **filters: Any) -> dict[str, Any]:
    """The object of that kind with that name (in `flow_name` when given). Unknown or ambiguous names fail with
    what to type instead."""
    kind = KINDS[kind_name]
    in_flow = flow_id(flow_name) if kind.in_flow and flow_name else None
    if lookup.is_id(name):
        item = _by_id(kind, name)
        if in_flow and item.get("flow") != in_flow:
            raise Failure(f"{kind.singular} {name} is not in flow {flow_name}")
        return item
    params = {kind.name_param: name, **filters}
    if in_flow:
        params["flow"] = in_flow
    found = state().api.all(kind.path, **params)
    where = f" in flow {flow_name}" if in_flow else ""
    if not found:
        listing = f"ec ls {kind.plural}" + (f" --flow {flow_name}" if in_flow else "")
        raise Failure(f"no {kind.singular} named {name}{where} that you may see; `{listing}` lists them")
    if len(found) > 1:
        if kind.in_flow:
            flows = flow_names()
            where = ", ".join(sorted(flows.get(item["flow"], item["flow"]) for item in found))
            raise Failure(f"{len(found)} {kind.plural} are named {name} (flows {where}): pass --flow")
        raise Failure(f"{len(found)} {kind.plural} are named {name}: give the id instead")
    return dict(found[0])


def flow_for_new(flow_name: str | None) -> dict[str, Any]:
    """Where an object made now goes: the named flow, or the caller's default flow."""
    return flow(flow_name) if flow_name else state().default_flow()
