"""`ec ls <objects>`: tables of what the caller may see (the server filters every list by permission)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import click

from flows.client.cli import calls, output, resolve
from flows.client.cli.groups import Group
from flows.client.cli.output import Column, field
from flows.client.cli.state import flow_option, json_option, state

SINGULAR = {kind.singular: kind.plural for kind in resolve.KINDS.values()} | {"right": "rights"}


@click.group(cls=Group, aliases=SINGULAR)
def ls() -> None:
    """List objects.

    Each kind also answers in the singular: `ec ls socket -n X`."""


def name_in(kind: str, key: str) -> Callable[[dict[str, Any]], Any]:
    """A column showing the name of the object whose id is in `key`."""

    def get(item: dict[str, Any]) -> Any:
        value = item.get(key)
        names = resolve.flow_names() if kind == "flow" else resolve.names_of(kind)
        return names.get(value, value) if value else ""

    return get


FLOW: Column = ("Flow", name_in("flow", "flow"))
ID: Column = ("ID", field("id"))


def listing(
    kind: str, columns: Sequence[Column], *, name: str | None = None, flow: str | None = None, **filters: Any
) -> list[dict[str, Any]]:
    """Fetch (filtered by name and flow) and show a kind's objects."""
    spec = resolve.KINDS[kind]
    params = {key: value for key, value in filters.items() if value is not None}
    if name:
        params[spec.name_param] = name
    if flow:
        params["flow"] = resolve.flow(flow)["id"]
    items = state().api.all(spec.path, **params)
    output.show(items, columns, empty=f"No {spec.plural} that you may see.")
    return items


def name_option(fn: Any) -> Any:
    return click.option("-n", "--name", help="Only objects with this name.")(fn)


def _slots(item: dict[str, Any]) -> str:
    """`4`, or `2..8` for a processor that autoscales from 2 to 8 slots."""
    most = item.get("autoscale_max") or 0
    return f"{item['concurrency']}..{most}" if most else str(item["concurrency"])


@ls.command("flows")
@name_option
@json_option
def ls_flows(name: str | None) -> None:
    """List flows."""
    columns = [("Name", field("name")), ("Owner", field("owner")), ("Version", field("version"))]
    listing("flow", [*columns, ("Description", field("description")), ID], name=name)


def _replicas(item: dict[str, Any]) -> str:
    """Where each replica runs: `n1 n2 (1 waiting)`; `n1→n3` while one moves; the pin or scheduler first."""
    places = item.get("placement") or []
    where = " ".join(
        p["node"] + (f"→{p['moving_to']}" if p.get("moving_to") else "") for p in places if p["status"] != "stopped"
    )
    short = (item.get("replicas") or 1) - len([p for p in places if not p.get("moving_to")])
    text = where + (f" ({short} waiting)" if short > 0 and item.get("requested_status") != "stopped" else "")
    restriction = (
        f"on {item['node']}" if item.get("node") else (f"sched {item['scheduler']}" if item.get("scheduler") else "")
    )
    return " ".join(filter(None, [f"{item.get('replicas') or 1}x", restriction, text.strip()]))


@ls.command("maps")
@json_option
def ls_maps() -> None:
    """List the newest map runs (`ec task map`) you may see; `ec task status ID` shows one's receipts."""
    items = state().api.all("/api/maps/")
    columns = [
        ("Socket", field("socket")),
        ("Parcels", field("parcels")),
        ("Owner", field("owner")),
        ("Created", field("created_at")),
        ID,
    ]
    output.show(items, columns, empty="No map runs that you may see.")


@ls.command("processors")
@name_option
@flow_option
@json_option
def ls_processors(name: str | None, flow: str | None) -> None:
    """List processors and their status."""
    columns: list[Column] = [
        ("Name", field("name")),
        FLOW,
        ("Status", field("status")),
        ("Requested", field("requested_status")),
        ("Concurrency", _slots),
        ("Replicas", _replicas),
        ("Rate limit", field("rate_limit")),
        ("Module", field("module")),
        ("Ref", field("ref")),
        ("Commit", lambda item: (item.get("commit") or "")[:10]),
        ("Git URL", field("git_url")),
        ("Message", field("status_message")),
        ID,
    ]
    listing("processor", columns, name=name, flow=flow)


@ls.command("sockets")
@name_option
@flow_option
@click.option("-pn", "--processor", help="Only this processor's sockets.")
@json_option
def ls_sockets(name: str | None, flow: str | None, processor: str | None) -> None:
    """List sockets."""
    processor_id = resolve.one("processor", processor, flow_name=flow)["id"] if processor else None
    columns: list[Column] = [
        ("Name", field("name")),
        FLOW,
        ("Processor", name_in("processor", "processor")),
        ("Function", field("function")),
        ("Queue", field("queue")),
        ("Max queue", field("max_queue_length")),
        ("Schedule", field("schedule")),
        ID,
    ]
    listing("socket", columns, name=name, flow=flow, processor=processor_id)


@ls.command("plugs")
@name_option
@flow_option
@json_option
def ls_plugs(name: str | None, flow: str | None) -> None:
    """List plugs (socket → socket)."""
    columns: list[Column] = [
        ("Name", field("name")),
        FLOW,
        ("Source", name_in("socket", "source")),
        ("Kind", field("kind")),
        ("Target", name_in("socket", "target")),
        ("Argument", field("argument")),
        ID,
    ]
    listing("plug", columns, name=name, flow=flow)


@ls.command("queues")
@name_option
@json_option
def ls_queues(name: str | None) -> None:
    """List queues.

    Those your sockets use (all of them with READ_QUEUE)."""
    columns: list[Column] = [
        ("Name", field("name")),
        ("Max length", field("max_length")),
        ("TTL (s)", field("message_ttl")),
        ID,
    ]
    listing("queue", columns, name=name)


@ls.command("nodes")
@name_option
@json_option
def ls_nodes(name: str | None) -> None:
    """List nodes (LS_NODES)."""
    columns: list[Column] = [
        ("Name", field("name")),
        ("Hostname", field("hostname")),
        ("CPUs", field("cpus")),
        (
            "Slots used",
            lambda n: (
                f"{n.get('slots_used', 0)}/{n.get('cpus')}" + (" (oversubscribe)" if n.get("oversubscribe") else "")
            ),
        ),
        ("Memory (MB)", field("memory_mb")),
        ("Status", field("status")),
        ("Last heartbeat", field("last_heartbeat")),
        ID,
    ]
    listing("node", columns, name=name)


@ls.command("agents")
@name_option
@json_option
def ls_agents(name: str | None) -> None:
    """List agents (LS_AGENTS)."""
    columns: list[Column] = [
        ("Name", field("name")),
        ("Node", field("node")),
        ("PID", field("pid")),
        ("Status", field("status")),
        ("Last heartbeat", field("last_heartbeat")),
        ID,
    ]
    listing("agent", columns, name=name)


@ls.command("workers")
@click.option("-pn", "--processor", help="Only this processor's workers.")
@flow_option
@json_option
def ls_workers(processor: str | None, flow: str | None) -> None:
    """List processor workers."""
    processor_id = resolve.one("processor", processor, flow_name=flow)["id"] if processor else None
    columns: list[Column] = [
        ("Name", field("name")),
        ("Processor", name_in("processor", "processor")),
        ("Agent", field("agent")),
        ("Concurrency", field("concurrency")),
        ("Status", field("status")),
        ("PID", field("pid")),
        ("Started", field("started_at")),
        ID,
    ]
    listing("worker", columns, processor=processor_id)


@ls.command("schedulers")
@name_option
@json_option
def ls_schedulers(name: str | None) -> None:
    """List schedulers and their nodes (LS_SCHEDULERS)."""
    columns: list[Column] = [("Name", field("name")), ("Strategy", field("strategy")), ("Nodes", field("nodes")), ID]
    listing("scheduler", columns, name=name)


def privilege_columns() -> list[Column]:
    def on(item: dict[str, Any]) -> str:
        kind, object_id = item.get("object_type"), item.get("object_id")
        if not kind:
            return "everything"
        names = resolve.flow_names() if kind == "flow" else resolve.names_of(str(kind))
        return f"{kind} {names.get(str(object_id), object_id)}"

    return [
        ("Name", lambda item: item.get("user") or f"role {item.get('group')}"),
        ("Right", field("right")),
        ("On", on),
        ("Last Updated", field("granted_at")),
        ("By", field("granted_by")),
    ]


@ls.command("users")
@name_option
@json_option
def ls_users(name: str | None) -> None:
    """List users (with --name, their privileges).

    `ec ls user --name darren` shows the user, then the rights granted to them."""
    columns: list[Column] = [
        ("Name", field("username")),
        ID,
        ("Email", field("email")),
        ("Roles", field("groups")),
        ("Active", field("is_active")),
    ]
    api = state().api
    users = api.all("/api/users/", username=name)
    if not name or not users:
        output.show(users, columns, empty="No users that you may see." if not name else f"No user named {name}.")
        return
    privileges = api.all("/api/privileges/", user__username=name)
    if state().json:
        output.dump([{**user, "privileges": privileges} for user in users])
        return
    output.table(users, columns)
    output.table(privileges, privilege_columns(), title="Privileges")


@ls.command("roles")
@name_option
@json_option
def ls_roles(name: str | None) -> None:
    """List roles and their members."""
    listing("role", [("Name", field("name")), ("Users", field("users")), ID], name=name)


@ls.command("privileges")
@click.option("--user", help="Only this user's.")
@click.option("--role", help="Only this role's.")
@click.option("--name", "--right", "right", help="Only this right.")
@json_option
def ls_privileges(user: str | None, role: str | None, right: str | None) -> None:
    """List granted rights.

    Yours, your roles', and those on flows you own (all of them with READ_PRIVILEGE)."""
    filters = {"user__username": user, "group__name": role, "right": right.upper() if right else None}
    listing("privilege", [*privilege_columns(), ID], **filters)


@ls.command("rights")
@json_option
def ls_rights() -> None:
    """List the rights that can be granted.

    Grant one with `ec add privilege --name RIGHT`."""
    rights = state().api.get("/api/privileges/rights/")
    output.show(rights, [("Right", field("right")), ("Description", field("description"))], empty="No rights.")


ls.add_command(calls.ls_calls)
