"""`ec delete <object> -n NAME`: asks first on a terminal; scripts say --yes."""

from __future__ import annotations

import sys
from typing import Any

import click

from flows.client.cli import output, resolve
from flows.client.cli.add import privilege_target
from flows.client.cli.groups import Group
from flows.client.cli.state import Failure, json_option, state
from flows.client.errors import ApiError

# What else goes with the object, said in the question.
CONSEQUENCES = {
    "flow": " and its processors, sockets and plugs",
    "processor": " and its sockets (and their plugs)",
    "socket": " and its plugs",
}


@click.group(cls=Group)
def delete() -> None:
    """Delete an object (asks first unless --yes)."""


def confirm(what: str, yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise Failure(f"not deleting {what} without --yes (no terminal to ask on)")
    if not click.confirm(f"Delete {what}?", default=False):
        raise Failure(f"{what} not deleted")


# Objects whose delete takes sockets (or a queue) away: refused while messages wait, unless forced.
HOLD_MESSAGES = ("flow", "processor", "socket", "queue")


def _delete(kind: str, name: str, flow: str | None, yes: bool, force: bool = False) -> None:
    spec = resolve.KINDS[kind]
    item = resolve.one(kind, name, flow_name=flow)
    label = item[spec.name_field]
    where = f" (flow {resolve.flow_names().get(item['flow'], item['flow'])})" if spec.in_flow else ""
    archived = " (waiting messages go to the dead-letter archive)" if force else ""
    confirm(f"{kind} {label}{where}{CONSEQUENCES.get(kind, '')}{archived}", yes)
    try:
        answer = state().api.delete(spec.url(item["id"]), force="true" if force else None)
    except ApiError as error:
        if error.status == 409 and kind in HOLD_MESSAGES and not force:
            raise Failure(f"{error.message} From ec: `ec delete {kind} -n {name} --force`.") from None
        raise
    if kind == "user" and answer:  # a user who owns flows is deactivated, so that the flows keep an owner
        output.say(f"User {label} owns flows, so was deactivated instead of deleted", answer)
        return
    output.say(f"Deleted {kind} {label}", {"deleted": kind, "id": item["id"], "name": label})


def _command(kind: str) -> click.Command:
    in_flow = resolve.KINDS[kind].in_flow

    def run(name: str, yes: bool, flow: str | None = None, force: bool = False) -> None:
        _delete(kind, name, flow, yes, force)

    run.__doc__ = f"Delete a {kind}{CONSEQUENCES.get(kind, '')}."
    command: Any = run
    command = json_option(command)
    command = click.option("--yes", "-y", is_flag=True, help="Do not ask.")(command)
    if kind in HOLD_MESSAGES:
        command = click.option(
            "--force",
            is_flag=True,
            help="Delete even with messages waiting: they move to the owner's dead-letter archive "
            "(GET /api/archive/); without it the server refuses and says how many wait.",
        )(command)
    if in_flow:
        command = click.option("--flow", help="The flow it is in (name or id).")(command)
    command = click.option("-n", "--name", required=True, help="Its name (or id).")(command)
    return click.command(kind)(command)


for _kind in ("flow", "processor", "socket", "plug", "queue", "node", "scheduler", "user", "role"):
    delete.add_command(_command(_kind))


@delete.command("privilege")
@click.option("--user", help="Revoke from this user.")
@click.option("--role", help="Revoke from this role.")
@click.option("--name", "--right", "right", required=True, help="The right.")
@click.option("--flow", help="The grant on this flow.")
@click.option("--processor", help="The grant on this processor.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask.")
@json_option
def delete_privilege(
    user: str | None, role: str | None, right: str, flow: str | None, processor: str | None, yes: bool
) -> None:
    """Revoke a right granted with `ec add privilege`."""
    if bool(user) == bool(role):
        raise click.UsageError("give --user or --role (one of them)")
    target = privilege_target(flow, processor)
    filters = {"user__username": user} if user else {"group__name": role}
    grants = [
        grant
        for grant in state().api.all("/api/privileges/", right=right.upper(), **filters)
        if (grant.get("object_id") or None) == target.get("object_id")
        and (grant.get("object_type") or None) == target.get("object_type")
    ]
    where = f" on {target['object_type']} {processor or flow}" if target else " (global)"
    what = f"{right.upper()} of {'user ' + user if user else 'role ' + str(role)}{where}"
    if not grants:
        raise Failure(f"no grant {what} that you may see; `ec ls privileges` lists them")
    confirm(f"the grant {what}", yes)
    for grant in grants:
        state().api.delete(f"/api/privileges/{grant['id']}/")
    output.say(f"Revoked {what}", {"revoked": [grant["id"] for grant in grants]})
