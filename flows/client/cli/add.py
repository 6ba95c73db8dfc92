"""`ec add <object>`: make queues, processors, sockets, plugs, flows, nodes, schedulers, users, roles, privileges.

Objects that live in a flow go to --flow, or to the caller's flow "default" (made on first use), so the seed's
scripts, which name no flow, work as written.
"""

from __future__ import annotations

from typing import Any

import click

from flows.client.cli import output, resolve
from flows.client.cli.auth import read_secret
from flows.client.cli.groups import Group
from flows.client.cli.state import flow_option, json_option, state


@click.group(cls=Group)
def add() -> None:
    """Add an object.

    Queues, processors, sockets and plugs go to --flow, or to your flow "default"; also flows, nodes,
    schedulers, users, roles and privileges."""


def schedule_of(interval: float | None, cron: str | None) -> dict[str, Any] | None:
    if interval is not None and cron:
        raise click.UsageError("give --interval or --cron, not both")
    if interval is not None:
        return {"interval": interval}
    return {"cron": cron} if cron else None


@add.command("queue")
@click.option("-n", "--name", required=True, help="The queue's name (sockets name it with -q).")
@click.option("-t", "--type", "kind", default="direct", show_default=True, help="Only direct: see below.")
@click.option("--max-length", type=click.IntRange(min=1), help="Refuse messages beyond this many waiting.")
@click.option("--ttl", type=click.IntRange(min=1), help="Seconds a message may wait before it is dropped.")
@json_option
def add_queue(name: str, kind: str, max_length: int | None, ttl: int | None) -> None:
    """Add a queue sockets can share. Queues are point-to-point (direct): each message is taken by one socket.
    To send a result to several sockets, fan it out with plugs (`ec add plug`)."""
    if kind != "direct":
        raise click.BadParameter(
            f"{kind} queues do not exist here: queues are point-to-point (direct), and fan-out is done by plugs "
            "(`ec add plug --source S --target T`, one per target)",
            param_hint="'-t' / '--type'",
        )
    made = state().api.post("/api/queues/", {"name": name, "max_length": max_length, "message_ttl": ttl})
    output.say(f"Added queue {name}", made)


def _add_socket(processor: dict[str, Any], name: str, function: str, **fields: Any) -> dict[str, Any]:
    body = {"processor": processor["id"], "name": name, "function": function}
    body.update({key: value for key, value in fields.items() if value is not None})
    return dict(state().api.post("/api/sockets/", body))


@add.command("processor")
@click.option("-n", "--name", required=True)
@click.option("-g", "--git-url", "--gitrepo", "git_url", required=True, help="The git repository of the code.")
@click.option("-m", "--module", required=True, help="The Python module, e.g. elasticcode_examples.sample.")
@click.option("--ref", "--branch", "ref", help="Branch or tag (default main); pinned to a commit when deployed.")
@click.option("--subdirectory", help="Where the package is inside the repository.")
@click.option("--requirements", help="Extra pip requirements, one per line.")
@click.option(
    "-c",
    "--concurrency",
    type=click.IntRange(1, 64),
    help="Calls it runs at once (its worker's slots, each a warm executor process).",
)
@click.option(
    "--autoscale-max",
    type=click.IntRange(0, 64),
    help="Grow the worker up to this many slots while messages wait (Celery's autoscaler); 0: a fixed pool.",
)
@click.option(
    "--replicas",
    type=click.IntRange(1, 64),
    help="Workers on different nodes consuming the same queues (more throughput, and failover).",
)
@click.option(
    "--replicas-max",
    type=click.IntRange(0, 64),
    help="Add replicas up to this while messages pile up (placement's autoscaler); 0: a fixed number.",
)
@click.option(
    "-h",
    "--host",
    "--node",
    "node",
    help="Run only on this node (its name or host name, as the seed's `-h radiant`); it may join later.",
)
@click.option("--scheduler", help="Run only on this scheduler's nodes (`ec add scheduler`).")
@click.option(
    "-t", "--task", "tasks", multiple=True, help="Also add a socket for this function, named <module>.<task>."
)
@click.option("--start", is_flag=True, help="Ask for it to run now (`ec proc start --wait` waits for it).")
@flow_option
@json_option
def add_processor(
    name: str,
    git_url: str,
    module: str,
    ref: str | None,
    subdirectory: str | None,
    requirements: str | None,
    concurrency: int | None,
    autoscale_max: int | None,
    replicas: int | None,
    replicas_max: int | None,
    node: str | None,
    scheduler: str | None,
    tasks: tuple[str, ...],
    start: bool,
    flow: str | None,
) -> None:
    """Add a processor (code from git).

    The module is loaded from the repository at a pinned commit, into its own virtual environment."""
    api = state().api
    target = resolve.flow_for_new(flow)
    body: dict[str, Any] = {"flow": target["id"], "name": name, "git_url": git_url, "module": module}
    optional = {
        "ref": ref,
        "subdirectory": subdirectory,
        "requirements": requirements,
        "concurrency": concurrency,
        "autoscale_max": autoscale_max,
        "replicas": replicas,
        "replicas_max": replicas_max,
        "node": node,
        "scheduler": scheduler,
    }
    body.update({key: value for key, value in optional.items() if value is not None})
    made = api.post("/api/processors/", body)
    sockets = [_add_socket(made, f"{module}.{task}", task) for task in tasks]
    if start:
        made = api.post(f"/api/processors/{made['id']}/start/")
    said = f"Added processor {name} to flow {target['name']}"
    if sockets:
        said += f", with socket(s) {', '.join(s['name'] for s in sockets)}"
    said += "; asked it to start" if start else f"; `ec proc start -n {name}` starts it"
    output.say(said, {**made, "sockets": sockets} if sockets else made)


@add.command("socket")
@click.option("-n", "--name", required=True, help="Unique in its flow; `ec task run -s NAME` sends to it.")
@click.option("-pn", "--processor", "processor_name", required=True, help="The processor whose function it is.")
@click.option("-t", "--task", "--function", "function", required=True, help="The function it calls.")
@click.option("-q", "--queue", help="A shared queue (`ec add queue`); left out, the socket gets its own.")
@click.option(
    "-c", "--cpus", type=click.IntRange(1, 64), help="CPUs it occupies: raises the processor's concurrency to this."
)
@click.option("--max-queue-length", type=click.IntRange(min=1), help="Back pressure: at most this many waiting.")
@click.option("--interval", type=click.FloatRange(min=0.1), help="Run it every this many seconds (a source).")
@click.option("--cron", metavar="'m h dom mon dow'", help="Run it on this cron schedule (a source).")
@click.option("--pure", is_flag=True, help="Same arguments, same result: memoize its results (Girder's cache).")
@click.option("--memo-ttl", type=click.IntRange(min=1), help="Seconds a pure socket's result is kept.")
@flow_option
@json_option
def add_socket(
    name: str,
    processor_name: str,
    function: str,
    queue: str | None,
    cpus: int | None,
    max_queue_length: int | None,
    interval: float | None,
    cron: str | None,
    pure: bool,
    memo_ttl: int | None,
    flow: str | None,
) -> None:
    """Add a socket: one function of a processor, fronted by a queue."""
    processor = resolve.one("processor", processor_name, flow_name=flow)
    made = _add_socket(
        processor,
        name,
        function,
        queue=queue,
        max_queue_length=max_queue_length,
        schedule=schedule_of(interval, cron),
        pure=pure or None,
        memo_ttl=memo_ttl,
    )
    said = f"Added socket {name} ({processor['name']}.{function}, queue {made['queue']})"
    if pure:
        said += ", pure: its results are memoized"
    if cpus and cpus > int(processor["concurrency"]):
        state().api.patch(f"/api/processors/{processor['id']}/", {"concurrency": cpus})
        said += f"; raised {processor['name']}'s concurrency from {processor['concurrency']} to {cpus} (-c {cpus})"
    output.say(said, made)


@add.command("plug")
@click.option("-n", "--name", help="Default: <source>-<kind>-<target>.")
@click.option("--source", required=True, help="The socket whose result (or error) it carries.")
@click.option("--target", required=True, help="The socket it delivers to.")
@click.option("--kind", type=click.Choice(["result", "error"]), default="result", show_default=True)
@click.option("--argument", help="Deliver as this argument of the target's function.")
@flow_option
@json_option
def add_plug(name: str | None, source: str, target: str, kind: str, argument: str | None, flow: str | None) -> None:
    """Add a plug from one socket to another.

    The source socket's result (or, with --kind error, its error) goes to the target socket."""
    src = resolve.one("socket", source, flow_name=flow)
    dst = resolve.one("socket", target, flow_name=flow or src["flow"])
    body = {"source": src["id"], "target": dst["id"], "kind": kind, "name": name or "", "argument": argument or ""}
    made = state().api.post("/api/plugs/", body)
    output.say(f"Added plug {made['name']}: {src['name']} --{kind}--> {dst['name']}", made)


@add.command("flow")
@click.option("-n", "--name", required=True)
@click.option("--description", default="")
@json_option
def add_flow(name: str, description: str) -> None:
    """Add an empty flow (you own it)."""
    made = state().api.post("/api/flows/", {"name": name, "description": description})
    output.say(f"Added flow {name}", made)


@add.command("node")
@click.option("-n", "--name", required=True)
@click.option("-h", "--hostname", required=True, help="The machine's host name.")
@click.option("--cpus", type=click.IntRange(min=1), help="CPUs processors may use there.")
@click.option("--memory-mb", type=click.IntRange(min=0))
@json_option
def add_node(name: str, hostname: str, cpus: int | None, memory_mb: int | None) -> None:
    """Add a node (a machine agents run on)."""
    body: dict[str, Any] = {"name": name, "hostname": hostname}
    body.update({key: value for key, value in {"cpus": cpus, "memory_mb": memory_mb}.items() if value is not None})
    made = state().api.post("/api/nodes/", body)
    output.say(f"Added node {name} ({hostname}, {made['cpus']} CPUs)", made)


@add.command("scheduler")
@click.option("-n", "--name", required=True)
@click.option("--node", "nodes", multiple=True, help="A node it places processors on (repeat for more).")
@click.option("--strategy", help="How it places processors (default least_loaded).")
@json_option
def add_scheduler(name: str, nodes: tuple[str, ...], strategy: str | None) -> None:
    """Add a scheduler.

    It places processors on its nodes; `ec scheduler -n NAME add --node N` adds nodes."""
    body: dict[str, Any] = {"name": name, "nodes": list(nodes)}
    if strategy:
        body["strategy"] = strategy
    made = state().api.post("/api/schedulers/", body)
    output.say(f"Added scheduler {name}", made)


@add.command("user")
@click.option("-n", "--name", "username", required=True)
@click.option("--email", default="")
@click.option("--right", "rights", multiple=True, help="A right granted globally, e.g. CREATE (`ec ls rights`).")
@click.option("--role", "roles", multiple=True, help="A role to put the user in.")
@click.option("--password-stdin", is_flag=True, help="Read the new user's password from stdin.")
@json_option
def add_user(username: str, email: str, rights: tuple[str, ...], roles: tuple[str, ...], password_stdin: bool) -> None:
    """Add a user (asks for their password)."""
    password = read_secret(f"Password for {username}", from_stdin=password_stdin, confirm=True)
    body = {"username": username, "password": password, "email": email, "rights": list(rights), "groups": list(roles)}
    made = state().api.post("/api/users/", body)
    output.say(f"Added user {username}", made)


@add.command("role")
@click.option("-n", "--name", required=True)
@click.option("--user", "users", multiple=True, help="A member (repeat for more).")
@click.option("--right", "rights", multiple=True, help="A right the role carries, granted globally.")
@json_option
def add_role(name: str, users: tuple[str, ...], rights: tuple[str, ...]) -> None:
    """Add a role: a group of users that holds rights."""
    body: dict[str, Any] = {"name": name, "rights": list(rights)}
    if users:
        body["users"] = list(users)
    made = state().api.post("/api/groups/", body)
    output.say(f"Added role {name}", made)


def privilege_target(flow: str | None, processor: str | None) -> dict[str, Any]:
    """{"object_type", "object_id"} for --processor (in --flow) or --flow; {} for a global grant."""
    if processor:
        return {"object_type": "processor", "object_id": resolve.one("processor", processor, flow_name=flow)["id"]}
    if flow:
        return {"object_type": "flow", "object_id": resolve.flow(flow)["id"]}
    return {}


@add.command("privilege")
@click.option("--user", help="Grant to this user.")
@click.option("--role", help="Grant to this role.")
@click.option("--name", "--right", "right", required=True, help="The right, e.g. DELETE (`ec ls rights`).")
@click.option("--flow", help="Only on this flow (default: everywhere).")
@click.option("--processor", help="Only on this processor.")
@json_option
def add_privilege(user: str | None, role: str | None, right: str, flow: str | None, processor: str | None) -> None:
    """Grant a right to a user or a role.

    Everywhere, or only on one flow (--flow) or processor (--processor)."""
    if bool(user) == bool(role):
        raise click.UsageError("give --user or --role (one of them)")
    body: dict[str, Any] = {"right": right.upper(), **privilege_target(flow, processor)}
    body["user" if user else "group"] = user or role
    made = state().api.post("/api/privileges/", body)
    where = f" on {made['object_type']} {processor or flow}" if made.get("object_type") else ""
    output.say(f"Granted {made['right']} to {'user' if user else 'role'} {user or role}{where}", made)
