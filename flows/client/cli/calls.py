"""`ec ls calls`: what ran. `ec ls call --id ID` is one trace as a table, `-g` draws it as a tree (tree.py)."""

from __future__ import annotations

from typing import Any

import click

from flows.client import lookup
from flows.client.cli import output, resolve, tree
from flows.client.cli.output import Column, field, milliseconds
from flows.client.cli.state import Failure, flow_option, json_option, state

CALL_COLUMNS: list[Column] = [
    ("Socket", field("socket_name")),
    ("Status", field("status")),
    ("Duration (ms)", milliseconds("duration_ms")),
    ("Started", field("started_at")),
    ("Error", field("error")),
    ("ID", field("id")),
    ("Parent", field("parent_id")),
]


def trace_calls(call_or_trace: str) -> list[dict[str, Any]]:
    """The calls of a trace, given the trace id (a message id `ec task run` printed) or any call's id."""
    api = state().api
    if not lookup.is_id(call_or_trace):
        raise click.BadParameter(f"{call_or_trace} is not an id", param_hint="'--id'")
    calls = api.all("/api/calls/", trace_id=call_or_trace)
    if not calls:
        call = api.request("GET", f"/api/calls/{call_or_trace}/", ok=(404,))
        if call and "trace_id" in call:
            calls = api.all("/api/calls/", trace_id=call["trace_id"])
    if not calls:
        raise Failure(
            f"no call or trace {call_or_trace} that you may see (calls are recorded about a second after they end; a message still waiting in its queue, its processor stopped or busy, has none yet: `ec ls processors` shows which are not running)"
        )
    return sorted(calls, key=lambda call: (call.get("started_at") or "", call["id"]))


@click.command("calls")
@click.option("--id", "call_id", metavar="ID", help="The calls of this trace (a message id, or any call's id).")
@click.option("-g", "--graph", is_flag=True, help="With --id: draw the trace as a tree.")
@click.option("-s", "--socket", help="Only calls of this socket.")
@click.option(
    "--status",
    type=click.Choice(["received", "running", "succeeded", "failed", "retrying", "dead", "cached", "raised"]),
)
@flow_option
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@json_option
def ls_calls(
    call_id: str | None, graph: bool, socket: str | None, status: str | None, flow: str | None, limit: int
) -> None:
    """List calls, or one trace (--id; -g draws it).

    A call is one execution of a socket for one message."""
    if graph and not call_id:
        raise click.UsageError("-g draws one trace: give --id ID")
    if call_id:
        calls = trace_calls(call_id)
        if graph:
            drawing = state().api.get(f"/api/calls/{calls[0]['id']}/graph/")
            if state().json:
                output.dump(drawing)
            else:
                click.echo("\n".join(tree.draw(drawing["roots"])))
            return
        output.show(calls, CALL_COLUMNS, empty="No calls.")
        return
    params: dict[str, Any] = {"limit": limit, "status": status}
    if socket:
        params["socket"] = resolve.one("socket", socket, flow_name=flow)["id"]
    elif flow:
        params["flow"] = resolve.flow(flow)["id"]
    page = state().api.get("/api/calls/", **params)
    output.show(
        page["results"],
        [*CALL_COLUMNS[:-2], ("Trace", field("trace_id")), ("ID", field("id"))],
        empty="No calls that you may see.",
    )
