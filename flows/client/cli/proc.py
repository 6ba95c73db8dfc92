"""`ec proc start|stop|pause|resume|restart -n NAME [--wait]`: ask for a processor's state; agents make it so.
`ec proc move -n NAME --node N [--replica R] [--wait]`: move a running replica to another node, losing nothing."""

from __future__ import annotations

import time
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


Incarnations = set[tuple[str, Any, Any]]


def _incarnations(processor: dict[str, Any]) -> Incarnations:
    """(name, pid, started_at) of the processor's running workers. A restart keeps a worker's name and gives it a
    new pid and start time, so it is done when one of these is new: compared for equality, never ordered, so the
    clocks of the client, the server and the agent's node need not agree."""
    return {
        (worker["name"], worker.get("pid"), worker.get("started_at"))
        for worker in state().api.all("/api/workers/", processor=processor["id"])
        if worker.get("status") == "running"
    }


def wait_for(
    processor: dict[str, Any], action: str, timeout: float, before: Incarnations | None = None
) -> dict[str, Any]:
    """Poll the processor until its status is the action's goal (for a restart, with a worker that was not running
    `before` it was asked for); an error status or the timeout fails."""
    goal = GOAL[action]
    name = processor["name"]
    deadline = time.monotonic() + timeout
    with output.spinner(f"{name}: waiting to be {goal}…") as tell:
        while True:
            current = state().api.get(f"/api/processors/{processor['id']}/")
            status = current["status"]
            done = status == goal and (action != "restart" or bool(_incarnations(current) - (before or set())))
            if done:
                return dict(current)
            if status == "error" and goal != "stopped":
                raise Failure(f"{name} is in error: {current.get('status_message') or 'no reason given'}")
            message = current.get("status_message") or ""
            if time.monotonic() >= deadline:
                # The processor's own words first (found by a newcomer: "waiting for a node: replica 1 needs 4
                # free CPU slots…" was left out, and the guess about agents was all one read).
                why = f": {message}" if message else "; is an agent running on its node? `ec ls agents` says more"
                raise OutOfTime(f"{name} is still {status} after {timeout:g} s (asked to be {goal}){why}")
            tell(f"{name}: {status}{f' ({message})' if message else ''}, waiting to be {goal}…")
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
        before = _incarnations(processor) if wait and action == "restart" else None
        answer = state().api.post(f"/api/processors/{processor['id']}/{action}/")
        if wait:
            answer = wait_for(answer, action, timeout, before)
            output.say(f"{answer['name']} is {answer['status']}", answer)
        else:
            output.say(f"Asked {answer['name']} to {action} (now {answer['status']})", answer)

    return run


for _name in GOAL:
    proc.add_command(_action(_name))


@proc.command("move")
@click.option("-n", "--name", required=True, help="The processor's name (or id).")
@click.option("--node", required=True, help="The node to move to.")
@click.option("--replica", type=click.IntRange(1, 64), help="Which replica (1, 2, …); needed with several.")
@flow_option
@click.option("--wait", is_flag=True, help="Wait until the replica runs on the new node and the old has stopped.")
@click.option("--timeout", type=click.FloatRange(min=0), default=180, show_default=True, help="Seconds --wait waits.")
@json_option
def move(name: str, node: str, replica: int | None, flow: str | None, wait: bool, timeout: float) -> None:
    """Move a running processor's replica to another node: its new worker consumes before the old one stops
    warmly, so no message is lost."""
    processor = resolve.one("processor", name, flow_name=flow)
    body: dict[str, Any] = {"node": node} if replica is None else {"node": node, "replica": replica}
    answer = state().api.post(f"/api/processors/{processor['id']}/move/", body)
    if not wait:
        output.say(f"Moving {answer['name']} to {node}; `ec ls processors` shows where it runs", answer)
        return
    deadline = time.monotonic() + timeout
    with output.spinner(f"{name}: moving to {node}…") as tell:
        while True:
            answer = state().api.get(f"/api/processors/{processor['id']}/")
            places = answer.get("placement") or []
            moving = [p for p in places if p.get("moving_to")]
            arrived = [p for p in places if p["node"] == node and p["status"] == "running"]
            if arrived and not moving:
                which = f"replica {replica} of " if replica is not None else ""
                output.say(f"{which}{answer['name']} runs on {node}", answer)
                return
            if time.monotonic() >= deadline:
                raise OutOfTime(f"{name} has not finished moving to {node} after {timeout:g} s: `ec ls processors`")
            tell(f"{name}: {answer['status_message']}")
            time.sleep(POLL)


@proc.command("rebalance")
@json_option
def rebalance() -> None:
    """Spread replicas that a node's failure or a late-joining node left crowded on one node (live moves;
    placement never moves a running replica by itself). Needs UPDATE_NODE."""
    answer = state().api.post("/api/nodes/rebalance/")
    moves = answer.get("moves") or []
    output.say("\n".join(f"Moving {m}" for m in moves) if moves else "Nothing to rebalance", answer)
