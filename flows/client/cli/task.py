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
from typing import Any

import click

from flows.client.cli import output, resolve
from flows.client.cli.groups import Group
from flows.client.cli.state import Failure, flow_option, json_option, state
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
