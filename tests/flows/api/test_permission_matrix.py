"""Who sees and may change what, endpoint by endpoint (DESIGN.md §8: no leaks through lists).

alice owns demo.flow; bob has VIEW_FLOW on it; charlie has nothing; anonymous sends no token. Objects a caller may
not see answer 404 like missing ones; visible but not allowed answers 403 with a message that says what to ask for.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from rest_framework.test import APIClient

from backend.accounts.services import privilege_grant
from backend.cluster.models import Agent, Node, Scheduler, Worker
from flows.models import Call, Flow, Plug, Processor, Queue, Socket
from flows.models.call import CallStatus
from flows.selectors.graph import flow_graph_get
from tests.conftest import Demo


@dataclass
class World:
    """demo.flow plus one call of s1, and a worker of p1 on agent1 of node1 (in scheduler sched1)."""

    demo: Demo
    call: Call
    node: Node
    agent: Agent
    worker: Worker
    scheduler: Scheduler


@pytest.fixture
def world(demo: Demo) -> World:
    node = Node.objects.create(name="node1", hostname="phoenix", cpus=4)
    agent = Agent.objects.create(name="agent1", node=node)
    worker = Worker.objects.create(name="worker-proc1", processor=demo.p1, agent=agent)
    scheduler = Scheduler.objects.create(name="sched1")
    scheduler.nodes.add(node)
    call = Call.objects.create(
        trace_id=uuid.uuid4(), flow=demo.flow, socket=demo.s1, socket_name=demo.s1.name, status=CallStatus.SUCCEEDED
    )
    return World(demo, call, node, agent, worker, scheduler)


Objects = Callable[[World], list[Any]]

# What alice and bob see of the demo flow, by endpoint.
FLOW_SCOPED: dict[str, Objects] = {
    "flows": lambda w: [w.demo.flow],
    "processors": lambda w: [w.demo.p1, w.demo.p2],
    "sockets": lambda w: [w.demo.s1, w.demo.s2],
    "plugs": lambda w: [w.demo.plug],
    "queues": lambda w: [w.demo.s1.queue, w.demo.s2.queue],
    "calls": lambda w: [w.call],
    "workers": lambda w: [w.worker],
}
# Seen only with global rights (READ, LS_NODES...).
CLUSTER: dict[str, Objects] = {
    "nodes": lambda w: [w.node],
    "agents": lambda w: [w.agent],
    "schedulers": lambda w: [w.scheduler],
}
EVERYTHING = {**FLOW_SCOPED, **CLUSTER}


def ids(objects: list[Any]) -> list[str]:
    return sorted(str(obj.pk) for obj in objects)


def listed(client: APIClient, resource: str) -> list[dict[str, Any]]:
    response = client.get(f"/api/{resource}/")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["count"] == len(body["results"])
    return list(body["results"])


def listed_ids(client: APIClient, resource: str) -> list[str]:
    return sorted(str(row["id"]) for row in listed(client, resource))


def assert_error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["message"], error
    if code is not None:
        assert error["code"] == code, error
    return dict(error)


# -- lists and details ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("resource", sorted(FLOW_SCOPED))
@pytest.mark.parametrize("persona", ["alice", "bob"])
def test_owner_and_viewer_list_every_object_of_the_flow(
    api: dict[str, APIClient], world: World, persona: str, resource: str
) -> None:
    assert listed_ids(api[persona], resource) == ids(FLOW_SCOPED[resource](world))


@pytest.mark.parametrize("resource", sorted(FLOW_SCOPED))
@pytest.mark.parametrize("persona", ["alice", "bob"])
def test_owner_and_viewer_read_each_object_of_the_flow(
    api: dict[str, APIClient], world: World, persona: str, resource: str
) -> None:
    for obj in FLOW_SCOPED[resource](world):
        response = api[persona].get(f"/api/{resource}/{obj.pk}/")
        assert response.status_code == 200, response.content
        assert response.json()["id"] == str(obj.pk)


def test_listed_names_are_those_of_the_flow(api: dict[str, APIClient], world: World) -> None:
    assert [row["name"] for row in listed(api["bob"], "flows")] == ["demo"]
    assert [row["owner"] for row in listed(api["bob"], "flows")] == ["alice"]
    assert [row["name"] for row in listed(api["bob"], "processors")] == ["proc1", "proc2"]
    assert [row["name"] for row in listed(api["bob"], "sockets")] == ["demo.proc1.do_something", "demo.proc2.do_this"]
    assert [row["name"] for row in listed(api["bob"], "plugs")] == ["p1-to-p2"]
    assert [row["socket_name"] for row in listed(api["bob"], "calls")] == ["demo.proc1.do_something"]
    assert [(row["name"], row["agent"]) for row in listed(api["bob"], "workers")] == [("worker-proc1", "agent1")]


@pytest.mark.parametrize("resource", sorted(EVERYTHING))
def test_charlie_sees_nothing_in_any_list(api: dict[str, APIClient], world: World, resource: str) -> None:
    response = api["charlie"].get(f"/api/{resource}/")
    assert response.status_code == 200, response.content
    assert response.json()["count"] == 0
    assert response.json()["results"] == []


@pytest.mark.parametrize("resource", sorted(EVERYTHING))
def test_charlie_gets_404_for_every_object(api: dict[str, APIClient], world: World, resource: str) -> None:
    for obj in EVERYTHING[resource](world):
        assert_error(api["charlie"].get(f"/api/{resource}/{obj.pk}/"), 404, "not_found")


@pytest.mark.parametrize("resource", sorted(EVERYTHING))
def test_admin_sees_everything(api: dict[str, APIClient], world: World, resource: str) -> None:
    assert listed_ids(api["admin"], resource) == ids(EVERYTHING[resource](world))


@pytest.mark.parametrize("view", ["graph", "export"])
@pytest.mark.parametrize("persona", ["alice", "bob"])
def test_owner_and_viewer_read_the_graph_and_export(
    api: dict[str, APIClient], world: World, persona: str, view: str
) -> None:
    response = api[persona].get(f"/api/flows/{world.demo.flow.id}/{view}")
    assert response.status_code == 200, response.content
    doc = response.json()
    assert doc["name"] == "demo"
    assert [p["name"] for p in doc["processors"]] == ["proc1", "proc2"]
    assert [s["name"] for p in doc["processors"] for s in p["sockets"]] == [world.demo.s1.name, world.demo.s2.name]


@pytest.mark.parametrize("view", ["graph", "export"])
def test_charlie_gets_404_for_graph_and_export(api: dict[str, APIClient], world: World, view: str) -> None:
    assert_error(api["charlie"].get(f"/api/flows/{world.demo.flow.id}/{view}"), 404, "not_found")


@pytest.mark.parametrize("resource", sorted(CLUSTER))
@pytest.mark.parametrize("persona", ["alice", "bob", "charlie"])
def test_nobody_without_a_read_right_sees_the_cluster(
    api: dict[str, APIClient], world: World, persona: str, resource: str
) -> None:
    assert listed_ids(api[persona], resource) == []
    for obj in CLUSTER[resource](world):
        assert_error(api[persona].get(f"/api/{resource}/{obj.pk}/"), 404, "not_found")


def test_global_read_right_shows_the_cluster(api: dict[str, APIClient], world: World, charlie: Any) -> None:
    privilege_grant(right="READ", user=charlie, check=False)
    client = api["charlie"]
    assert [(row["name"], row["hostname"]) for row in listed(client, "nodes")] == [("node1", "phoenix")]
    assert [(row["name"], row["node"]) for row in listed(client, "agents")] == [("agent1", "node1")]
    assert [(row["name"], row["nodes"]) for row in listed(client, "schedulers")] == [("sched1", ["node1"])]
    assert client.get(f"/api/nodes/{world.node.id}/").json()["name"] == "node1"
    # READ is every view permission: the whole flow shows too, but changing it still needs more.
    assert listed_ids(client, "flows") == [str(world.demo.flow.id)]
    assert_error(client.patch(f"/api/flows/{world.demo.flow.id}/", {"description": "x"}, format="json"), 403)


def _anonymous_paths(w: World) -> list[tuple[str, str]]:
    flow, p1 = w.demo.flow.id, w.demo.p1.id
    paths = [("get", f"/api/{resource}/") for resource in sorted(EVERYTHING)]
    paths += [("get", f"/api/{resource}/{EVERYTHING[resource](w)[0].pk}/") for resource in sorted(EVERYTHING)]
    paths += [
        ("get", f"/api/flows/{flow}/graph"),
        ("put", f"/api/flows/{flow}/graph"),
        ("get", f"/api/flows/{flow}/export"),
        ("post", "/api/flows/"),
        ("patch", f"/api/flows/{flow}/"),
    ]
    paths += [("post", f"/api/processors/{p1}/{act}") for act in ("start", "stop", "pause", "resume", "restart")]
    return paths


def test_anonymous_gets_401_everywhere(api: dict[str, APIClient], world: World) -> None:
    for method, path in _anonymous_paths(world):
        response = getattr(api["anonymous"], method)(path, {}, format="json")
        error = assert_error(response, 401, "not_authenticated")
        assert "Authorization: Token" in error["message"], (method, path)
    assert Processor.objects.get(pk=world.demo.p1.pk).requested_status == "stopped"


# -- writes ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Write:
    """One change to the demo flow: how to ask for it, whether it happened, and what the owner gets."""

    name: str
    method: str
    path: Callable[[World], str]
    body: Callable[[World], dict[str, Any]]
    applied: Callable[[World], bool]
    owner_status: int = 200
    stranger_status: int = 404


def _graph_with_description(w: World) -> dict[str, Any]:
    doc = flow_graph_get(flow=Flow.objects.get(pk=w.demo.flow.pk))
    doc["description"] = "changed"
    return doc


def _requested(w: World) -> str:
    return str(Processor.objects.get(pk=w.demo.p1.pk).requested_status)


NEW_PROCESSOR = {"name": "proc3", "git_url": "file:///srv/repos/sample.git", "module": "sample.functions"}

WRITES = [
    Write(
        "flow-update",
        "patch",
        lambda w: f"/api/flows/{w.demo.flow.id}/",
        lambda w: {"description": "changed"},
        lambda w: Flow.objects.get(pk=w.demo.flow.pk).description == "changed",
    ),
    Write(
        "flow-graph-put",
        "put",
        lambda w: f"/api/flows/{w.demo.flow.id}/graph",
        _graph_with_description,
        lambda w: Flow.objects.get(pk=w.demo.flow.pk).description == "changed",
    ),
    Write(
        "flow-delete",
        "delete",
        lambda w: f"/api/flows/{w.demo.flow.id}/",
        lambda w: {},
        lambda w: not Flow.objects.filter(pk=w.demo.flow.pk).exists(),
        owner_status=204,
    ),
    Write(
        "processor-create",
        "post",
        lambda w: "/api/processors/",
        lambda w: {**NEW_PROCESSOR, "flow": str(w.demo.flow.id)},
        lambda w: Processor.objects.filter(flow=w.demo.flow, name="proc3").exists(),
        owner_status=201,
    ),
    Write(
        "processor-update",
        "patch",
        lambda w: f"/api/processors/{w.demo.p1.id}/",
        lambda w: {"concurrency": 4},
        lambda w: Processor.objects.get(pk=w.demo.p1.pk).concurrency == 4,
    ),
    Write(
        "processor-delete",
        "delete",
        lambda w: f"/api/processors/{w.demo.p2.id}/",
        lambda w: {},
        lambda w: not Processor.objects.filter(pk=w.demo.p2.pk).exists(),
        owner_status=204,
    ),
    Write(
        "socket-create",
        "post",
        lambda w: "/api/sockets/",
        lambda w: {"processor": str(w.demo.p1.id), "name": "demo.proc1.extra", "function": "do_this"},
        lambda w: Socket.objects.filter(name="demo.proc1.extra").exists(),
        owner_status=201,
    ),
    Write(
        "socket-update",
        "patch",
        lambda w: f"/api/sockets/{w.demo.s1.id}/",
        lambda w: {"max_queue_length": 10},
        lambda w: Socket.objects.get(pk=w.demo.s1.pk).max_queue_length == 10,
    ),
    Write(
        "socket-delete",
        "delete",
        lambda w: f"/api/sockets/{w.demo.s2.id}/",
        lambda w: {},
        lambda w: not Socket.objects.filter(pk=w.demo.s2.pk).exists(),
        owner_status=204,
    ),
    # A stranger names sockets he cannot see: the plug endpoint says which field is unknown rather than 404.
    Write(
        "plug-create",
        "post",
        lambda w: "/api/plugs/",
        lambda w: {"source": str(w.demo.s1.id), "target": str(w.demo.s2.id), "kind": "error"},
        lambda w: Plug.objects.filter(flow=w.demo.flow, kind="error").exists(),
        owner_status=201,
        stranger_status=400,
    ),
    Write(
        "plug-update",
        "patch",
        lambda w: f"/api/plugs/{w.demo.plug.id}/",
        lambda w: {"argument": "data"},
        lambda w: Plug.objects.get(pk=w.demo.plug.pk).argument == "data",
    ),
    Write(
        "plug-delete",
        "delete",
        lambda w: f"/api/plugs/{w.demo.plug.id}/",
        lambda w: {},
        lambda w: not Plug.objects.filter(pk=w.demo.plug.pk).exists(),
        owner_status=204,
    ),
    Write(
        "queue-update",
        "patch",
        lambda w: f"/api/queues/{w.demo.s1.queue_id}/",
        lambda w: {"max_length": 5},
        lambda w: Queue.objects.get(pk=w.demo.s1.queue_id).max_length == 5,
    ),
    Write(
        "processor-start",
        "post",
        lambda w: f"/api/processors/{w.demo.p1.id}/start",
        lambda w: {},
        lambda w: _requested(w) == "running",
    ),
    Write(
        "processor-stop",
        "post",
        lambda w: f"/api/processors/{w.demo.p1.id}/stop",
        lambda w: {},
        lambda w: _requested(w) == "stopped",
    ),
    Write(
        "processor-pause",
        "post",
        lambda w: f"/api/processors/{w.demo.p1.id}/pause",
        lambda w: {},
        lambda w: _requested(w) == "paused",
    ),
    Write(
        "processor-resume",
        "post",
        lambda w: f"/api/processors/{w.demo.p1.id}/resume",
        lambda w: {},
        lambda w: _requested(w) == "running",
    ),
    Write(
        "processor-restart",
        "post",
        lambda w: f"/api/processors/{w.demo.p1.id}/restart",
        lambda w: {},
        lambda w: Processor.objects.get(pk=w.demo.p1.pk).restart_requested_at is not None,
    ),
]


# The state p1 is in before each action, so that the action changes it.
BEFORE = {"processor-stop": "running", "processor-pause": "running", "processor-resume": "paused"}


def _prepare(write: Write, w: World) -> None:
    if write.name in BEFORE:
        Processor.objects.filter(pk=w.demo.p1.pk).update(requested_status=BEFORE[write.name])


def _send(client: APIClient, write: Write, w: World) -> Any:
    _prepare(write, w)
    return getattr(client, write.method)(write.path(w), write.body(w), format="json")


@pytest.mark.parametrize("write", [pytest.param(write, id=write.name) for write in WRITES])
def test_owner_may_make_every_change(api: dict[str, APIClient], world: World, write: Write) -> None:
    response = _send(api["alice"], write, world)
    assert response.status_code == write.owner_status, response.content
    assert write.applied(world)


@pytest.mark.parametrize("write", WRITES, ids=[write.name for write in WRITES])
def test_viewer_is_refused_every_change_with_a_message(api: dict[str, APIClient], world: World, write: Write) -> None:
    error = assert_error(_send(api["bob"], write, world), 403, "forbidden")
    assert "may not" in error["message"].lower(), error
    assert not write.applied(world)


@pytest.mark.parametrize("write", WRITES, ids=[write.name for write in WRITES])
def test_stranger_cannot_tell_the_flow_exists(api: dict[str, APIClient], world: World, write: Write) -> None:
    error = assert_error(_send(api["charlie"], write, world), write.stranger_status)
    if write.stranger_status == 400:
        assert set(error["fields"]) == {"source"}, error
    else:
        assert error["code"] == "not_found", error
    assert not write.applied(world)


@pytest.mark.parametrize("resource", ["calls", "workers"])
@pytest.mark.parametrize("persona", ["alice", "admin"])
def test_calls_and_workers_are_read_only(api: dict[str, APIClient], world: World, persona: str, resource: str) -> None:
    obj = FLOW_SCOPED[resource](world)[0]
    assert_error(api[persona].post(f"/api/{resource}/", {}, format="json"), 405)
    assert_error(api[persona].delete(f"/api/{resource}/{obj.pk}/"), 405)
    assert type(obj).objects.filter(pk=obj.pk).exists()


# -- grants on one processor ----------------------------------------------------------------------------------


def test_processor_grant_shows_that_processor_and_its_socket_only(
    api: dict[str, APIClient], world: World, charlie: Any
) -> None:
    demo = world.demo
    privilege_grant(right="VIEW_PROCESSOR", user=charlie, obj=demo.p1)
    client = api["charlie"]

    assert listed_ids(client, "processors") == [str(demo.p1.id)]
    assert listed_ids(client, "sockets") == [str(demo.s1.id)]
    assert listed_ids(client, "queues") == [str(demo.s1.queue_id)]
    assert listed_ids(client, "calls") == [str(world.call.id)]
    assert listed_ids(client, "workers") == [str(world.worker.id)]
    assert listed_ids(client, "flows") == []
    assert listed_ids(client, "plugs") == []  # a plug belongs to the flow, which charlie may not see

    assert client.get(f"/api/processors/{demo.p1.id}/").json()["name"] == "proc1"
    assert client.get(f"/api/sockets/{demo.s1.id}/").json()["name"] == demo.s1.name
    for path in (
        f"/api/processors/{demo.p2.id}/",
        f"/api/sockets/{demo.s2.id}/",
        f"/api/flows/{demo.flow.id}/",
        f"/api/flows/{demo.flow.id}/graph",
        f"/api/plugs/{demo.plug.id}/",
    ):
        assert_error(client.get(path), 404, "not_found")
    # Seeing is not changing.
    assert_error(client.patch(f"/api/processors/{demo.p1.id}/", {"concurrency": 4}, format="json"), 403)
    assert_error(client.post(f"/api/processors/{demo.p1.id}/start"), 403)


def test_start_grant_on_one_processor_lets_charlie_start_it_and_no_other(
    api: dict[str, APIClient], demo: Demo, charlie: Any
) -> None:
    privilege_grant(right="VIEW_PROCESSOR", user=charlie, obj=demo.p1)
    privilege_grant(right="START_PROCESSOR", user=charlie, obj=demo.p1)
    client = api["charlie"]

    response = client.post(f"/api/processors/{demo.p1.id}/start")
    assert response.status_code == 200, response.content
    assert response.json()["requested_status"] == "running"
    assert Processor.objects.get(pk=demo.p1.pk).requested_status == "running"

    error = assert_error(client.post(f"/api/processors/{demo.p1.id}/stop"), 403, "forbidden")
    assert "stop" in error["message"]
    assert_error(client.post(f"/api/processors/{demo.p2.id}/start"), 404, "not_found")
    assert Processor.objects.get(pk=demo.p1.pk).requested_status == "running"
    assert Processor.objects.get(pk=demo.p2.pk).requested_status == "stopped"
