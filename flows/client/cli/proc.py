"""`ec proc start|stop|pause|resume|restart -n NAME [--wait]`: ask for a processor's state; agents make it so."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import click

from flows.client.cli import output, resolve
from flows.client.cli.groups import Group
from flows.client.cli.state import Failure, OutOfTime, flow_option, json_option, state

# The status each action leads to.
GOAL = {"start": "running", "stop": "stopped", "pause": "paused", "resume": "running", "restart": "running"}
POLL = 0.5


@click.group(cls=Group)
def proc() -> None:
    """Run or manage processors."""


def _started_since(processor: dict[str, Any], since: str) -> bool:
    """A restart is done when a worker of the processor started after it was asked for."""
    asked = datetime.fromisoformat(since)
    for worker in state().api.all("/api/workers/", processor=processor["id"]):
        started = worker.get("started_at")
        if worker.get("status") == "running" and started and datetime.fromisoformat(started) >= asked:
            return True
    return False


def wait_for(processor: dict[str, Any], action: str, timeout: float) -> dict[str, Any]:
    """Poll the processor until its status is the action's goal; an error status or the timeout fails."""
    goal = GOAL[action]
    name = processor["name"]
    deadline = time.monotonic() + timeout
    with output.spinner(f"{name}: waiting to be {goal}…") as tell:
        while True:
            current = state().api.get(f"/api/processors/{processor['id']}/")
            status = current["status"]
            done = status == goal and (action != "restart" or _started_since(current, processor["updated_at"]))
            if done:
                return dict(current)
            if status == "error" and goal != "stopped":
                raise Failure(f"{name} is in error: {current.get('status_message') or 'no reason given'}")
            if time.monotonic() >= deadline:
                raise OutOfTime(
                    f"{name} is still {status} after {timeout:g} s (asked to be {goal}); is an agent running on its "
                    "node? `ec ls agents` and `ec ls processors` say more"
                )
            tell(f"{name}: {status}, waiting to be {goal}…")
            time.sleep(POLL)


def _action(action: str) -> click.Command:
    @click.command(action, help=f"{action.capitalize()} a processor (asks for it; agents make it so).")
    @click.option("-n", "--name", required=True, help="The processor's name (or id).")
    @flow_option
    @click.option("--wait", is_flag=True, help=f"Wait until it is {GOAL[action]}.")
    @click.option(
        "--timeout", type=click.FloatRange(min=0), default=120, show_default=True, help="Seconds --wait waits."
    )
    @json_option
    def run(name: str, flow: str | None, wait: bool, timeout: float) -> None:
        processor = resolve.one("processor", name, flow_name=flow)
        answer = state().api.post(f"/api/processors/{processor['id']}/{action}/")
        if wait:
            answer = wait_for(answer, action, timeout)
            output.say(f"{answer['name']} is {answer['status']}", answer)
        else:
            output.say(f"Asked {answer['name']} to {action} (now {answer['status']})", answer)

    return run


for _name in GOAL:
    proc.add_command(_action(_name))
