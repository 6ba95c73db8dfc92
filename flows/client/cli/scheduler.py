"""`ec scheduler -n NAME add|remove --node NODE`, as in the seed's cluster script."""

from __future__ import annotations

import click

from flows.client.cli import output, resolve
from flows.client.cli.groups import Group
from flows.client.cli.state import json_option, state


@click.group(cls=Group)
@click.option("-n", "--name", required=True, help="The scheduler.")
@click.pass_context
def scheduler(ctx: click.Context, name: str) -> None:
    """Add or remove a scheduler's nodes."""
    ctx.meta["scheduler"] = name


def _change(node: str, *, adding: bool) -> None:
    name = click.get_current_context().meta["scheduler"]
    found = resolve.one("scheduler", name)
    resolve.one("node", node)  # a clear error for an unknown node
    nodes = [n for n in found["nodes"] if n != node] + ([node] if adding else [])
    updated = state().api.patch(f"/api/schedulers/{found['id']}/", {"nodes": nodes})
    verb = "Added node {node} to" if adding else "Removed node {node} from"
    output.say(f"{verb.format(node=node)} scheduler {name} (nodes: {', '.join(updated['nodes']) or 'none'})", updated)


@scheduler.command("add")
@click.option("--node", required=True)
@json_option
def add_node(node: str) -> None:
    """Let the scheduler place processors on this node."""
    _change(node, adding=True)


@scheduler.command("remove")
@click.option("--node", required=True)
@json_option
def remove_node(node: str) -> None:
    """Stop placing processors on this node."""
    _change(node, adding=False)
