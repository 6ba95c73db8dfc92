"""`ec tap -p PLUG` / `ec tap -s SOCKET`: watch the messages passing along a plug, or arriving at a socket, as they
happen (ElasticFlow's interceptors; flows/runtime/taps.py). One line per message:

    12:04:05.123  split → count  #3f2a…  "the cat sat"

until Ctrl-C, `--count` messages or `--seconds`. Sampled (`--sample 0.1`: one message in ten) and rate-limited
(`--rate`, per second per worker); payloads are cut to a preview. Needs only the view right on the flow.
"""

from __future__ import annotations

import json
import time
from typing import Any

import click

from flows.client.cli import resolve
from flows.client.cli.state import flow_option, json_option, state

POLL = 10.0  # seconds one request waits for events (the server allows 30)


def line(event: dict[str, Any]) -> str:
    at = time.strftime("%H:%M:%S", time.localtime(float(event.get("at") or 0)))
    millis = int((float(event.get("at") or 0) % 1) * 1000)
    where = f"{event.get('from')} → {event.get('to')}" if event.get("kind") == "plug" else f"→ {event.get('to')}"
    attempt = f" (attempt {event['attempt']})" if int(event.get("attempt") or 1) > 1 else ""
    return f"{at}.{millis:03d}  {where}  #{str(event.get('message_id'))[:8]}{attempt}  {event.get('payload')}"


@click.command("tap")
@click.option("-p", "--plug", help="The plug to watch (its name or id).")
@click.option("-s", "--socket", help="The socket to watch: messages arriving at it (its name or id).")
@click.option("--sample", type=click.FloatRange(0.001, 1.0), default=1.0, show_default=True, help="Share shown.")
@click.option("--rate", type=click.FloatRange(0.1, 50), default=10, show_default=True, help="At most, per second.")
@click.option("-c", "--count", type=click.IntRange(min=1), help="Stop after this many messages.")
@click.option("--seconds", type=click.FloatRange(min=0.1), help="Stop after this long.")
@flow_option
@json_option
def tap(
    plug: str | None,
    socket: str | None,
    sample: float,
    rate: float,
    count: int | None,
    seconds: float | None,
    flow: str | None,
) -> None:
    """Watch the messages along a plug (-p) or into a socket (-s) as they pass."""
    if bool(plug) == bool(socket):
        raise click.UsageError("give -p PLUG or -s SOCKET (one of them)")
    kind = "plug" if plug else "socket"
    target = resolve.one(kind, str(plug or socket), flow_name=flow)
    api = state().api
    path = f"/api/{kind}s/{target['id']}/tap/"
    click.echo(f"ec: tapping {kind} {target['name']} (Ctrl-C stops)", err=True)
    deadline = time.monotonic() + seconds if seconds else None
    cursor = ""
    seen = 0
    try:
        while True:
            left = deadline - time.monotonic() if deadline else POLL
            if left <= 0:
                return
            wait = min(POLL, left)
            params = {"after": cursor or None, "wait": f"{wait:.1f}", "sample": sample, "rate": rate}
            answer = api.request(
                "GET", path, params={k: v for k, v in params.items() if v is not None}, timeout=wait + 30
            )
            cursor = answer.get("cursor") or cursor
            for event in answer.get("events") or []:
                click.echo(json.dumps(event, ensure_ascii=False) if state().json else line(event))
                seen += 1
                if count and seen >= count:
                    return
    except KeyboardInterrupt:
        return
