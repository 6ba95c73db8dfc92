"""`ec task run -s SOCKET`: send one message and print what the flow answers, so that shell pipes compose:

    echo "HI THERE!" | ec task run -s do_something | echo "$(cat -) add some text" | ec task run -s do_this

The message is -d/--data, or all of stdin. It is parsed as JSON when it is JSON and sent as a string otherwise,
never evaluated: `-d hello` sends "hello", `-d 42` the number 42, `-d '["a", 1]'` a list, and the seed's
`--data "['some data']"` (not JSON: single quotes) the string "['some data']". From stdin, one trailing newline is
dropped, so `echo hi |` sends "hi".
"""

from __future__ import annotations

import json
import sys
import uuid
from typing import Any

import click

from flows.client.cli import output, resolve
from flows.client.cli.groups import Group
from flows.client.cli.state import Failure, OutOfTime, flow_option, json_option, state
from flows.client.errors import CallFailed, CallTimeout

MAX_WAIT = 300.0  # the server waits at most this long in one request
TOO_DEEP = (
    "the message is JSON nested too deeply to read (about 1,000 levels); the server takes 100 levels at most "
    "(ELASTICCODE_MAX_JSON_DEPTH): flatten it, or send it as a string"
)


@click.group(cls=Group)
def task() -> None:
    """Run tasks (send messages to sockets)."""


def parse_data(text: str, *, from_stdin: bool = False) -> Any:
    """JSON when the text is JSON, else the text itself (from stdin without its one trailing newline)."""
    try:
        return json.loads(text)
    except RecursionError:
        raise Failure(TOO_DEEP) from None
    except ValueError:
        if from_stdin and text.endswith("\n"):
            text = text[:-2] if text.endswith("\r\n") else text[:-1]
        return text


def print_results(results: list[Any]) -> None:
    """Strings raw (no quotes, so the next command in a pipe gets the text), anything else as JSON; one a line."""
    for result in results:
        click.echo(result if isinstance(result, str) else json.dumps(result, ensure_ascii=False))


@task.command("run")
@click.option("-s", "--socket", required=True, help="The socket's name (or id).")
@click.option("-d", "--data", help="The message: JSON, or else a plain string. Default: all of stdin.")
@click.option("-a", "--arg", "args", multiple=True, help="An extra argument after the message (JSON or string).")
@flow_option
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, max=MAX_WAIT),
    default=60,
    show_default=True,
    help="Seconds to wait for the answer.",
)
@click.option("--no-wait", is_flag=True, help="Only send; print the message id (follow it: `ec ls call --id`).")
@json_option
def run(socket: str, data: str | None, args: tuple[str, ...], flow: str | None, timeout: float, no_wait: bool) -> None:
    """Send a message; print the results.

    The message (-d, or else all of stdin less one trailing newline) is parsed as JSON when it is JSON and sent
    as a string otherwise; it is never evaluated. So `-d 42` sends a number, `-d '["a", 1]'` a list, and the
    seed's `--data "['some data']"` (single quotes: not JSON) the string ['some data'].

    Strings are printed as they are, other results as JSON, one a line, so shell pipes compose. Exit 1 if the
    call fails, 124 when no answer comes in time."""
    # The message is read and checked first: bad input fails before anything is asked of the server.
    if data is None:
        if sys.stdin.isatty():
            click.echo("ec: reading the message from stdin (end with Ctrl-D), or give -d DATA", err=True)
        payload = parse_data(sys.stdin.read(), from_stdin=True)
    else:
        payload = parse_data(data)
    body = {"data": payload, "args": [parse_data(arg) for arg in args]}
    target = resolve.one("socket", socket, flow_name=flow)
    api = state().api
    path = f"/api/sockets/{target['id']}/messages/"
    if no_wait:
        sent = api.post(path, body)
        output.say(str(sent["id"]), sent)
        return
    with output.spinner(f"{target['name']}: waiting for the answer…"):
        status, answer = api.status_and_body("POST", path, json=body, params={"wait": timeout}, timeout=timeout + 30)
    if state().json:
        output.dump(answer)
    elif state().verbose:
        click.echo(f"ec: message {answer['id']} (`ec ls call --id {answer['id']} -g` draws its calls)", err=True)
    if status == 504:
        # Found by a newcomer: the server says which processor is not running and why ("waiting for a node: …");
        # the command line said only that no answer came.
        stalled = (answer.get("error") or {}).get("processors") or []
        why = "".join(
            f"; {p['name']} is {p['status']}" + (f" ({p['status_message']})" if p.get("status_message") else "")
            for p in stalled
        )
        raise CallTimeout(
            f"no answer from {target['name']} within {timeout:g} s; the message goes on: follow it with "
            f"`ec ls call --id {answer['id']}`{why}"
        )
    if answer.get("error"):
        error = answer["error"]
        raise CallFailed({**error, "socket": error.get("socket") or target["name"]})
    if not state().json:
        print_results(list(answer.get("results") or []))


def parcels_of(path: str, split: str) -> list[Any]:
    """A file's parcels: its non-empty lines, or (split json) the items of the JSON list it holds."""
    try:
        with click.open_file(path, encoding="utf-8", errors="surrogateescape") as f:
            text = f.read()
    except OSError as exc:
        raise Failure(f"cannot read {path}: {exc.strerror or exc}") from None
    if split == "json":
        items = parse_data(text)
        if not isinstance(items, list):
            raise Failure(f"{path} does not hold a JSON list: give --split lines, or a file like [1, 2, 3]")
        return items
    return [line for line in text.splitlines() if line.strip()]


def full_id(run_id: str) -> str:
    """A map run's id as `ec task map` printed it (found by a newcomer: a shortened one answered "No such URL")."""
    try:
        return str(uuid.UUID(run_id.strip()))
    except ValueError:
        raise click.UsageError(
            f"{run_id!r} is not a map run's id: give the whole id `ec task map` printed (or `ec ls maps` lists)"
        ) from None


def show_run(run: dict[str, Any]) -> None:
    """A map run's receipts, as people read them; exit 1 when parcels failed, 124 when some are still pending."""
    if state().json:
        output.dump(run)
    else:
        failed, pending = run.get("failed") or [], run.get("pending") or []
        click.echo(
            f"map run {run['id']}: {run['parcels']} parcel(s) to {run['socket']}: {run['succeeded']} reached "
            f"aggregation, {len(failed)} failed, {len(pending)} pending"
        )
        for failure in failed:
            error = failure.get("error") or {}
            click.echo(
                f"  parcel {failure['index']} (sent {failure['attempts']}x) failed: "
                f"{error.get('error') or error.get('error_type')}  [{failure['parcel']}]"
            )
        if pending:
            click.echo(f"  pending: parcels {', '.join(map(str, pending[:20]))}{' …' if len(pending) > 20 else ''}")
        aggregate = run.get("aggregate")
        click.echo(
            "aggregate: " + (aggregate if isinstance(aggregate, str) else json.dumps(aggregate, ensure_ascii=False))
        )
    if run.get("failed"):
        raise Failure(f"{len(run['failed'])} parcel(s) failed; `ec task retry {run['id']}` sends exactly those again")
    if run.get("pending"):
        raise OutOfTime(f"{len(run['pending'])} parcel(s) still on their way; `ec task status {run['id']} --wait 60`")


@task.command("map")
@click.option("-s", "--socket", required=True, help="The socket each parcel goes to (its name or id).")
@click.option(
    "--file", "path", type=click.Path(dir_okay=False, allow_dash=True), help="Parcels: its lines ('-': stdin)."
)
@click.option("-d", "--data", help="Parcels as a JSON list instead of a file.")
@click.option("--split", type=click.Choice(["lines", "json"]), default="lines", show_default=True)
@click.option(
    "--reduce",
    type=click.Choice(["sum", "list"]),
    default="sum",
    show_default=True,
    help="sum: numbers added, word counts merged; list: the results in parcel order.",
)
@click.option("--timeout", type=click.FloatRange(min=0, max=MAX_WAIT), default=120, show_default=True)
@click.option("--no-wait", is_flag=True, help="Only send; print the run's id (`ec task status RUN`).")
@flow_option
@json_option
def map_run(
    socket: str,
    path: str | None,
    data: str | None,
    split: str,
    reduce: str,
    timeout: float,
    no_wait: bool,
    flow: str | None,
) -> None:
    """Send each parcel of a file (or a JSON list) to a socket, with a receipt per parcel; print which reached
    aggregation, which failed, and the aggregate (ElasticFlow's distributed source)."""
    if bool(path) == bool(data):
        raise click.UsageError("give --file F or -d '[...]' (one of them)")
    if data is not None:
        parcels = parse_data(data)
        if not isinstance(parcels, list):
            raise click.UsageError('-d takes a JSON list of parcels, such as \'["a b", "c"]\'')
    else:
        parcels = parcels_of(str(path), split)
    target = resolve.one("socket", socket, flow_name=flow)
    api = state().api
    with output.spinner(f"{target['name']}: {len(parcels)} parcel(s)…"):
        run = api.request(
            "POST",
            f"/api/sockets/{target['id']}/map/",
            json={"parcels": parcels, "reduce": reduce},
            params=None if no_wait else {"wait": timeout},
            timeout=timeout + 30,
        )
    if no_wait:
        output.say(str(run["id"]), run)
        return
    show_run(run)


@task.command("status")
@click.argument("run_id")
@click.option("--wait", type=click.FloatRange(min=0, max=MAX_WAIT), default=0, help="Seconds to wait for answers.")
@json_option
def map_status(run_id: str, wait: float) -> None:
    """A map run's receipts: what reached aggregation, what failed, what is pending; and the aggregate."""
    run_id = full_id(run_id)
    show_run(state().api.request("GET", f"/api/maps/{run_id}/", params={"wait": wait}, timeout=wait + 30))


@task.command("retry")
@click.argument("run_id")
@click.option("--pending", is_flag=True, help="Also send again the parcels with no answer yet.")
@click.option("--timeout", type=click.FloatRange(min=0, max=MAX_WAIT), default=120, show_default=True)
@json_option
def map_retry(run_id: str, pending: bool, timeout: float) -> None:
    """Send again exactly the parcels of a map run that did not reach aggregation (ElasticFlow's retry_step)."""
    run_id = full_id(run_id)
    api = state().api
    run = api.request(
        "POST", f"/api/maps/{run_id}/retry/", json={"pending": pending}, params={"wait": timeout}, timeout=timeout + 30
    )
    if not state().json:
        retried = run.get("retried") or []
        click.echo(
            f"sent again: {len(retried)} parcel(s)" + (f" ({', '.join(map(str, retried[:20]))})" if retried else "")
        )
    show_run(run)
