"""`ec update <object> -n NAME --field value …`: a PATCH of only the fields given."""

from __future__ import annotations

from typing import Any

import click

from flows.client.cli import output, resolve
from flows.client.cli.add import schedule_of
from flows.client.cli.auth import read_secret
from flows.client.cli.groups import Group
from flows.client.cli.state import flow_option, json_option, state


@click.group(cls=Group)
def update() -> None:
    """Change an object's fields (only those you give)."""


class _Clear:
    """A field set to null on purpose, as opposed to None: "left alone"."""


CLEAR = _Clear()


def zero_is_clear(value: int | None) -> Any:
    """For limits: 0 clears the limit (JSON null); None leaves it alone."""
    return None if value is None else (value or CLEAR)


def patch(kind: str, name: str, changes: dict[str, Any], *, flow: str | None = None) -> None:
    """PATCH the given fields (None: left alone, CLEAR: set to null) of the object of that kind and name."""
    body = {key: (None if value is CLEAR else value) for key, value in changes.items() if value is not None}
    if not body:
        raise click.UsageError(f"nothing to change: give at least one option (ec update {kind} --help)")
    item = resolve.one(kind, name, flow_name=flow)
    spec = resolve.KINDS[kind]
    updated = state().api.patch(spec.url(item["id"]), body)
    output.say(f"Updated {kind} {item[spec.name_field]}: {', '.join(sorted(body))}", updated)


def new_name_option(fn: Any) -> Any:
    return click.option("--new-name", help="Rename it.")(fn)


@update.command("processor")
@click.option("-n", "--name", required=True)
@new_name_option
@click.option("-g", "--git-url", "--gitrepo", "git_url")
@click.option("-m", "--module")
@click.option("--ref", "--branch", "ref")
@click.option("--subdirectory")
@click.option("--requirements")
@click.option("-c", "--concurrency", type=click.IntRange(1, 64))
@click.option(
    "--autoscale-max",
    type=click.IntRange(0, 64),
    help="Grow the worker up to this many slots while messages wait (Celery's autoscaler); 0: a fixed pool.",
)
@click.option("--replicas", type=click.IntRange(1, 64), help="Workers on different nodes consuming its queues.")
@click.option("--replicas-max", type=click.IntRange(0, 64), help="Autoscale replicas up to this; 0: fixed.")
@click.option("-h", "--host", "--node", "node", help='Run only on this node (name or host name); "" for any.')
@click.option("--scheduler", help='Run only on this scheduler\'s nodes; "" for any.')
@click.option("--retries", type=click.IntRange(0, 100))
@click.option("--time-limit", type=click.IntRange(1, 86400), help="Seconds one call may take.")
@click.option("--rate-limit", help='e.g. "10/s", "100/m"; "" for none.')
@flow_option
@json_option
def update_processor(name: str, new_name: str | None, flow: str | None, **fields: Any) -> None:
    """Change a processor.

    A running processor restarts its worker with the change."""
    patch("processor", name, {"name": new_name, **fields}, flow=flow)


@update.command("socket")
@click.option("-n", "--name", required=True)
@new_name_option
@click.option("-t", "--task", "--function", "function")
@click.option("-q", "--queue", help="Move it to this shared queue.")
@click.option("--own-queue", is_flag=True, help="Give it its own queue again.")
@click.option("--max-queue-length", type=click.IntRange(min=0), help="0: no limit.")
@click.option("--interval", type=click.FloatRange(min=0.1), help="Run it every this many seconds.")
@click.option("--cron", metavar="'m h dom mon dow'")
@click.option("--no-schedule", is_flag=True, help="Stop running it on a schedule.")
@click.option("--pure/--not-pure", default=None, help="Memoize its results (same arguments, same result), or stop.")
@click.option("--memo-ttl", type=click.IntRange(min=0), help="Seconds a pure socket's result is kept; 0: the default.")
@flow_option
@json_option
def update_socket(
    name: str,
    new_name: str | None,
    function: str | None,
    queue: str | None,
    own_queue: bool,
    max_queue_length: int | None,
    interval: float | None,
    cron: str | None,
    no_schedule: bool,
    pure: bool | None,
    memo_ttl: int | None,
    flow: str | None,
) -> None:
    """Change a socket."""
    if own_queue and queue:
        raise click.UsageError("give -q QUEUE or --own-queue, not both")
    changes = {
        "name": new_name,
        "function": function,
        "queue": CLEAR if own_queue else queue,
        "max_queue_length": zero_is_clear(max_queue_length),
        "schedule": CLEAR if no_schedule else schedule_of(interval, cron),
        "pure": pure,
        "memo_ttl": zero_is_clear(memo_ttl),
    }
    patch("socket", name, changes, flow=flow)


@update.command("queue")
@click.option("-n", "--name", required=True)
@click.option("--max-length", type=click.IntRange(min=0), help="0: no limit.")
@click.option("--ttl", type=click.IntRange(min=0), help="Seconds a message may wait; 0: forever.")
@json_option
def update_queue(name: str, max_length: int | None, ttl: int | None) -> None:
    """Change a queue's limits.

    Its name cannot change: messages wait in it under that name."""
    patch("queue", name, {"max_length": zero_is_clear(max_length), "message_ttl": zero_is_clear(ttl)})


@update.command("plug")
@click.option("-n", "--name", required=True)
@new_name_option
@click.option("--source", help="Another source socket (same flow).")
@click.option("--target", help="Another target socket (same flow).")
@click.option("--kind", type=click.Choice(["result", "error"]))
@click.option("--argument", help='"" for the first argument.')
@flow_option
@json_option
def update_plug(
    name: str,
    new_name: str | None,
    source: str | None,
    target: str | None,
    kind: str | None,
    argument: str | None,
    flow: str | None,
) -> None:
    """Change a plug."""
    plug = resolve.one("plug", name, flow_name=flow)
    ends = {
        end: resolve.one("socket", socket, flow_name=flow or plug["flow"])["id"]
        for end, socket in (("source", source), ("target", target))
        if socket
    }
    patch("plug", plug["id"], {"name": new_name, "kind": kind, "argument": argument, **ends})


@update.command("node")
@click.option("-n", "--name", required=True)
@new_name_option
@click.option("-h", "--hostname")
@click.option("--cpus", type=click.IntRange(min=1))
@click.option("--memory-mb", type=click.IntRange(min=0))
@json_option
def update_node(name: str, new_name: str | None, **fields: Any) -> None:
    """Change a node."""
    patch("node", name, {"name": new_name, **fields})


@update.command("scheduler")
@click.option("-n", "--name", required=True)
@new_name_option
@click.option("--strategy")
@click.option("--node", "nodes", multiple=True, help="Its nodes from now on (repeat; replaces the list).")
@json_option
def update_scheduler(name: str, new_name: str | None, strategy: str | None, nodes: tuple[str, ...]) -> None:
    """Change a scheduler.

    `ec scheduler -n NAME add|remove --node N` changes one node."""
    patch("scheduler", name, {"name": new_name, "strategy": strategy, "nodes": list(nodes) or None})


@update.command("user")
@click.option("-n", "--name", required=True)
@click.option("--email")
@click.option("--password", "new_password", is_flag=True, help="Set a new password (asked for).")
@click.option("--password-stdin", is_flag=True, help="Set a new password, read from stdin.")
@click.option("--active/--inactive", default=None, help="Let the user log in, or not.")
@click.option("--role", "roles", multiple=True, help="The user's roles from now on (repeat; replaces them).")
@json_option
def update_user(
    name: str,
    email: str | None,
    new_password: bool,
    password_stdin: bool,
    active: bool | None,
    roles: tuple[str, ...],
) -> None:
    """Change a user (yourself, or anyone with UPDATE_USER)."""
    password = (
        read_secret(f"New password for {name}", from_stdin=password_stdin, confirm=True)
        if new_password or password_stdin
        else None
    )
    changes = {"email": email, "password": password, "is_active": active, "groups": list(roles) or None}
    patch("user", name, changes)


@update.command("role")
@click.option("-n", "--name", required=True)
@new_name_option
@click.option("--user", "users", multiple=True, help="Its members from now on (repeat; replaces them).")
@json_option
def update_role(name: str, new_name: str | None, users: tuple[str, ...]) -> None:
    """Rename a role or set its members.

    `ec add privilege --role` grants it rights."""
    patch("role", name, {"name": new_name, "users": list(users) or None})


@update.command("flow")
@click.option("-n", "--name", required=True)
@new_name_option
@click.option("--description")
@click.option(
    "--chaos",
    type=click.IntRange(0, 45),
    help="A chaos drill: fail this percent of calls (0 to 45) on purpose before they run; 0 stops it. Owner only.",
)
@json_option
def update_flow(name: str, new_name: str | None, description: str | None, chaos: int | None) -> None:
    """Rename a flow, change its description, or run a chaos drill."""
    patch("flow", name, {"name": new_name, "description": description, "chaos": chaos})
