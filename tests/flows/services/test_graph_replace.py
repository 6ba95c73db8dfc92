"""flow_graph_replace: a whole graph document in, all of it saved or none of it, one version bump."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import pytest

from backend.errors import ApplicationError, Conflict, Forbidden
from flows.models import Flow, Plug, Processor, Queue, Socket
from flows.selectors.graph import flow_graph_get
from flows.services.graph import flow_graph_replace
from tests.conftest import Demo, build_demo


def graph(flow: Flow) -> dict[str, Any]:
    return flow_graph_get(flow=Flow.objects.get(pk=flow.pk))


def replace(user: Any, flow: Flow, doc: dict[str, Any]) -> dict[str, Any]:
    """Save a copy of `doc` (the service fills in ids and names) and return the graph read back."""
    flow_graph_replace(user=user, flow=Flow.objects.get(pk=flow.pk), doc=copy.deepcopy(doc))
    return graph(flow)


def new_processor(name: str, *sockets: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {
        "name": name,
        "git_url": "file:///srv/repos/sample.git",
        "module": "sample.functions",
        "sockets": list(sockets),
        **fields,
    }


def new_socket(name: str, function: str = "handle", **fields: Any) -> dict[str, Any]:
    return {"name": name, "function": function, **fields}


def new_plug(source: str, target: str, **fields: Any) -> dict[str, Any]:
    return {"source": source, "target": target, "kind": "result", "argument": "", **fields}


def ids(doc: dict[str, Any]) -> set[str]:
    found = {proc["id"] for proc in doc["processors"]}
    found |= {sock["id"] for proc in doc["processors"] for sock in proc["sockets"]}
    return found | {plug["id"] for plug in doc["plugs"]}


def without_version(doc: dict[str, Any]) -> dict[str, Any]:
    """The document less its version, and with an empty positions map the same as none."""
    layout = {key: value for key, value in doc["layout"].items() if key != "processors" or value}
    return {**{key: value for key, value in doc.items() if key != "version"}, "layout": layout}


def test_a_document_saved_back_unchanged_keeps_every_id_and_bumps_the_version_once(alice: Any, demo: Demo) -> None:
    before = graph(demo.flow)

    after = replace(alice, demo.flow, before)

    assert after["version"] == before["version"] + 1
    assert without_version(after) == without_version(before)
    assert ids(after) == {str(pk) for pk in (demo.p1.pk, demo.p2.pk, demo.s1.pk, demo.s2.pk, demo.plug.pk)}


def test_it_adds_a_processor_with_sockets_and_a_plug_naming_its_sockets(alice: Any, demo: Demo) -> None:
    doc = graph(demo.flow)
    doc["processors"].append(
        new_processor("proc3", new_socket("demo.proc3.handle"), new_socket("demo.proc3.tick", "tick"))
    )
    doc["plugs"].append(new_plug(demo.s2.name, "demo.proc3.handle", name="p2-to-p3"))
    doc["plugs"].append(new_plug("demo.proc3.handle", "demo.proc3.tick", kind="error"))

    after = replace(alice, demo.flow, doc)

    proc3 = Processor.objects.get(flow=demo.flow, name="proc3")
    assert sorted(proc3.sockets.values_list("name", "function")) == [
        ("demo.proc3.handle", "handle"),
        ("demo.proc3.tick", "tick"),
    ]
    handle = Socket.objects.get(flow=demo.flow, name="demo.proc3.handle")
    tick = Socket.objects.get(flow=demo.flow, name="demo.proc3.tick")
    plugs = {(plug.source_id, plug.target_id, plug.kind) for plug in Plug.objects.filter(flow=demo.flow)}
    assert plugs == {
        (demo.s1.pk, demo.s2.pk, "result"),
        (demo.s2.pk, handle.pk, "result"),
        (handle.pk, tick.pk, "error"),
    }
    assert Plug.objects.get(flow=demo.flow, source=demo.s2).name == "p2-to-p3"
    # A new socket without a queue gets its own automatic one.
    assert handle.queue.name == f"q.{handle.pk}"
    assert after["version"] == 2


def test_new_objects_keep_the_ids_the_client_made(alice: Any, demo: Demo) -> None:
    proc_id, socket_id, plug_id = (str(uuid.uuid4()) for _ in range(3))
    doc = graph(demo.flow)
    doc["processors"].append(new_processor("proc3", new_socket("demo.proc3.handle", id=socket_id), id=proc_id))
    doc["plugs"].append(new_plug(str(demo.s2.pk), socket_id, id=plug_id, name="p2-to-p3"))

    replace(alice, demo.flow, doc)

    assert Processor.objects.get(pk=proc_id).name == "proc3"
    assert Socket.objects.get(pk=socket_id).processor_id == uuid.UUID(proc_id)
    plug = Plug.objects.get(pk=plug_id)
    assert (plug.source_id, plug.target_id) == (demo.s2.pk, uuid.UUID(socket_id))


def test_leaving_objects_out_deletes_them_and_their_automatic_queues_but_not_shared_ones(
    alice: Any, demo: Demo
) -> None:
    doc = graph(demo.flow)
    doc["processors"].append(
        new_processor(
            "proc3",
            new_socket("demo.proc3.own"),
            new_socket("demo.proc3.shared", queue="shared"),
        )
    )
    doc["processors"].append(new_processor("proc4", new_socket("demo.proc4.shared", queue="shared")))
    doc = replace(alice, demo.flow, doc)
    own = Socket.objects.get(name="demo.proc3.own")
    assert Queue.objects.filter(name=f"q.{own.pk}").exists()
    assert Socket.objects.filter(queue__name="shared").count() == 2

    doc["processors"] = [proc for proc in doc["processors"] if proc["name"] not in {"proc2", "proc3"}]
    doc["plugs"] = []
    after = replace(alice, demo.flow, doc)

    assert sorted(proc["name"] for proc in after["processors"]) == ["proc1", "proc4"]
    assert not Processor.objects.filter(pk=demo.p2.pk).exists()
    assert not Socket.objects.filter(name__in=[demo.s2.name, "demo.proc3.own", "demo.proc3.shared"]).exists()
    assert not Plug.objects.filter(pk=demo.plug.pk).exists()
    assert not Queue.objects.filter(name=f"q.{own.pk}").exists()
    assert list(Socket.objects.filter(queue__name="shared").values_list("name", flat=True)) == ["demo.proc4.shared"]

    doc = after
    doc["processors"] = [proc for proc in doc["processors"] if proc["name"] != "proc4"]
    replace(alice, demo.flow, doc)
    # A named queue stays even when no socket uses it any more: someone may mean to reuse it.
    assert Queue.objects.filter(name="shared", sockets__isnull=True).exists()


def test_two_processors_and_two_sockets_may_swap_names_in_one_save(alice: Any, demo: Demo) -> None:
    doc = graph(demo.flow)
    first, second = doc["processors"]
    first["name"], second["name"] = second["name"], first["name"]
    first["sockets"][0]["name"], second["sockets"][0]["name"] = (
        second["sockets"][0]["name"],
        first["sockets"][0]["name"],
    )

    replace(alice, demo.flow, doc)

    assert Processor.objects.get(pk=demo.p1.pk).name == "proc2"
    assert Processor.objects.get(pk=demo.p2.pk).name == "proc1"
    assert Socket.objects.get(pk=demo.s1.pk).name == demo.s2.name
    assert Socket.objects.get(pk=demo.s2.pk).name == demo.s1.name


def test_a_stale_version_is_refused_and_changes_nothing(alice: Any, demo: Demo) -> None:
    stale = graph(demo.flow)
    current = replace(alice, demo.flow, graph(demo.flow))  # someone else saved meanwhile
    stale["processors"][0]["concurrency"] = 8
    stale["processors"].pop()

    with pytest.raises(Conflict) as raised:
        replace(alice, demo.flow, stale)

    assert raised.value.status == 409
    assert raised.value.extra == {"current_version": current["version"]}
    assert graph(demo.flow) == current


def test_every_problem_is_reported_under_its_path_and_nothing_is_saved(alice: Any, demo: Demo) -> None:
    other = build_demo(alice, "other")
    before = graph(demo.flow)
    other_before = graph(other.flow)
    doc = graph(demo.flow)
    doc["processors"][0]["concurrency"] = 8  # a good change, which must not be saved either
    doc["processors"][1]["sockets"].append(new_socket(demo.s1.name))
    doc["processors"].append(new_processor("proc3", id=str(other.p1.pk)))
    doc["plugs"].append(new_plug(demo.s1.name, "no.such.socket", name="dangling"))
    doc["plugs"].append(new_plug(str(demo.s1.pk), str(demo.s1.pk), name="loop"))

    with pytest.raises(ApplicationError) as raised:
        replace(alice, demo.flow, doc)

    assert raised.value.status == 400
    fields = raised.value.extra["fields"]
    assert set(fields) == {
        "processors[1].sockets[1].name",
        "processors[2].id",
        "plugs[1].target",
        "plugs[2].target",
    }, fields
    assert "used twice" in fields["processors[1].sockets[1].name"][0]
    assert "another flow" in fields["processors[2].id"][0]
    assert "no socket 'no.such.socket'" in fields["plugs[1].target"][0]
    assert "itself" in fields["plugs[2].target"][0]
    assert "more problem" in raised.value.message
    assert graph(demo.flow) == before
    assert graph(other.flow) == other_before


def test_a_viewer_may_not_replace_the_graph(bob: Any, demo: Demo) -> None:
    before = graph(demo.flow)
    doc = graph(demo.flow)
    doc["processors"].pop()
    doc["plugs"] = []

    with pytest.raises(Forbidden):
        replace(bob, demo.flow, doc)

    assert graph(demo.flow) == before


def test_positions_are_kept_in_the_layout_and_come_back(alice: Any, demo: Demo) -> None:
    doc = graph(demo.flow)
    doc["processors"][0]["position"] = {"x": 10.5, "y": -3.0}
    doc["processors"][1]["position"] = {"x": 200.0, "y": 40.0}
    doc["layout"] = {"viewport": {"x": 0, "y": 0, "zoom": 1.5}}

    after = replace(alice, demo.flow, doc)

    layout = Flow.objects.get(pk=demo.flow.pk).layout
    assert layout["processors"] == {str(demo.p1.pk): {"x": 10.5, "y": -3.0}, str(demo.p2.pk): {"x": 200.0, "y": 40.0}}
    assert layout["viewport"] == {"x": 0, "y": 0, "zoom": 1.5}
    assert [proc["position"] for proc in after["processors"]] == [{"x": 10.5, "y": -3.0}, {"x": 200.0, "y": 40.0}]

    # A deleted processor's position goes with it.
    after["processors"].pop()
    after["plugs"] = []
    replace(alice, demo.flow, after)
    assert Flow.objects.get(pk=demo.flow.pk).layout["processors"] == {str(demo.p1.pk): {"x": 10.5, "y": -3.0}}


def test_an_id_that_is_not_a_uuid_is_reported_not_crashed_on(alice: Any, demo: Demo) -> None:
    before = graph(demo.flow)
    doc = graph(demo.flow)
    doc["processors"][0]["sockets"][0]["id"] = "socket-one"

    with pytest.raises(ApplicationError) as raised:
        replace(alice, demo.flow, doc)

    assert "not a UUID" in raised.value.extra["fields"]["processors[0].sockets[0].id"][0]
    assert graph(demo.flow) == before


def test_a_socket_moving_to_a_shared_queue_drops_its_automatic_queue(alice: Any, demo: Demo) -> None:
    doc = graph(demo.flow)
    doc["processors"][0]["sockets"].append(new_socket("demo.proc1.extra"))
    doc = replace(alice, demo.flow, doc)
    extra = Socket.objects.get(name="demo.proc1.extra")
    assert extra.queue.name == f"q.{extra.pk}"

    doc["processors"][0]["sockets"][1]["queue"] = "shared"
    replace(alice, demo.flow, doc)

    assert Socket.objects.get(pk=extra.pk).queue.name == "shared"
    assert not Queue.objects.filter(name=f"q.{extra.pk}").exists()
