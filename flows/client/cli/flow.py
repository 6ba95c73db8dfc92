"""`ec flow export|import|ls|start|stop`: a flow as one portable JSON document, and all its processors at once."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from flows.client.cli import ls as listing
from flows.client.cli import output, resolve
from flows.client.cli.groups import Group
from flows.client.cli.state import Failure, json_option, state


@click.group(cls=Group, aliases={"list": "ls"})
def flow() -> None:
    """Flows as a whole: export, import, start, stop."""


flow.add_command(listing.ls_flows, "ls")


@flow.command("export")
@click.option("-n", "--name", required=True, help="The flow (name or id).")
@click.option("-o", "--output", "out", type=click.Path(dir_okay=False, writable=True), help="Write here, not stdout.")
def export(name: str, out: str | None) -> None:
    """Print (or write) the flow as a JSON document for `ec flow import`."""
    found = resolve.flow(name)
    document = state().api.get(f"/api/flows/{found['id']}/export/")
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if out:
        Path(out).write_text(text)
        click.echo(f"Exported flow {found['name']} to {out}", err=True)
    else:
        click.echo(text, nl=False)


def read_document(source: str) -> dict[str, Any]:
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text()
    except OSError as error:
        raise Failure(f"cannot read {source}: {error.strerror}") from None
    try:
        document = json.loads(text)
    except ValueError as error:
        raise Failure(
            f"{'stdin' if source == '-' else source} is not JSON ({error}); give a `ec flow export` document"
        ) from None
    if not isinstance(document, dict):
        raise Failure(f"{source} is not a flow document (a JSON object from `ec flow export`)")
    return document


@flow.command("import")
@click.argument("source", metavar="FILE|-")
@click.option("--name", help="Name of the new flow (default: the document's).")
@json_option
def import_(source: str, name: str | None) -> None:
    """Make a new flow from an exported document.

    FILE is a document from `ec flow export`, or - for stdin."""
    body: dict[str, Any] = {"document": read_document(source)}
    if name:
        body["name"] = name
    with output.spinner("importing…"):
        made = state().api.post("/api/flows/import/", body)
    sockets = sum(len(processor.get("sockets", [])) for processor in made.get("processors", []))
    output.say(
        f"Imported flow {made['name']} ({len(made.get('processors', []))} processors, {sockets} sockets, "
        f"{len(made.get('plugs', []))} plugs); its processors are stopped: `ec flow start -n {made['name']}`",
        made,
    )


def _run_all(action: str) -> click.Command:
    @click.command(action, help=f"{action.capitalize()} every processor of a flow.")
    @click.option("-n", "--name", required=True, help="The flow (name or id).")
    @json_option
    def run(name: str) -> None:
        found = resolve.flow(name)
        answer = state().api.post(f"/api/flows/{found['id']}/{action}/")
        processors = answer.get("processors", [])
        output.say(f"Asked {len(processors)} processor(s) of {found['name']} to {action}", answer)

    return run


for _action in ("start", "stop"):
    flow.add_command(_run_all(_action))
