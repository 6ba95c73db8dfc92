"""GET/PUT /api/flows/{id}/graph, and export then import of a flow as a document."""

from __future__ import annotations

from typing import Any

from rest_framework.test import APIClient

from flows.models import Flow, Processor, Queue, Socket
from flows.selectors.graph import flow_graph_get
from tests.conftest import Demo


def url(flow: Flow) -> str:
    return f"/api/flows/{flow.pk}/graph"


def graph(flow: Flow) -> dict[str, Any]:
    return flow_graph_get(flow=Flow.objects.get(pk=flow.pk))


def shape(doc: dict[str, Any]) -> dict[str, Any]:
    """What a flow does, without ids: processors with their code and sockets, plugs by socket names."""
    names = {sock["id"]: sock["name"] for proc in doc["processors"] for sock in proc["sockets"]}
    return {
        "processors": sorted(
            (
                proc["name"],
                proc["git_url"],
                proc["ref"],
                proc["module"],
                proc["concurrency"],
                tuple(sorted((sock["name"], sock["function"]) for sock in proc["sockets"])),
            )
            for proc in doc["processors"]
        ),
        "plugs": sorted(
            (plug["name"], names[plug["source"]], names[plug["target"]], plug["kind"]) for plug in doc["plugs"]
        ),
    }


def test_a_viewer_reads_the_graph_and_a_stranger_gets_404(api: dict[str, APIClient], demo: Demo) -> None:
    response = api["bob"].get(url(demo.flow))
    assert response.status_code == 200, response.content
    doc = response.json()
    assert doc.pop("rights")["change"] is False
    assert doc == graph(demo.flow)

    response = api["charlie"].get(url(demo.flow))
    assert response.status_code == 404
    assert "error" in response.json()


def test_putting_the_graph_back_keeps_ids_and_bumps_the_version(api: dict[str, APIClient], demo: Demo) -> None:
    before = api["alice"].get(url(demo.flow)).json()

    response = api["alice"].put(url(demo.flow), before, format="json")

    assert response.status_code == 200, response.content
    after = response.json()
    assert after["version"] == before["version"] + 1
    assert [proc["id"] for proc in after["processors"]] == [str(demo.p1.pk), str(demo.p2.pk)]
    assert [plug["id"] for plug in after["plugs"]] == [str(demo.plug.pk)]
    assert shape(after) == shape(before)
    assert after.pop("rights")["change"] is True
    assert after == graph(demo.flow)


def test_put_adds_objects_and_plugs_them_by_socket_name(api: dict[str, APIClient], demo: Demo) -> None:
    doc = api["alice"].get(url(demo.flow)).json()
    doc["processors"].append(
        {
            "name": "proc3",
            "git_url": "file:///srv/repos/sample.git",
            "module": "sample.functions",
            "position": {"x": 1, "y": 2},
            "sockets": [{"name": "demo.proc3.handle", "function": "handle"}],
        }
    )
    doc["plugs"].append({"source": demo.s2.name, "target": "demo.proc3.handle"})

    response = api["alice"].put(url(demo.flow), doc, format="json")

    assert response.status_code == 200, response.content
    handle = Socket.objects.get(flow=demo.flow, name="demo.proc3.handle")
    assert demo.s2.outgoing_plugs.get().target_id == handle.pk
    assert response.json()["processors"][2]["position"] == {"x": 1.0, "y": 2.0}


def test_a_stale_version_answers_409_with_the_current_version(api: dict[str, APIClient], demo: Demo) -> None:
    stale = api["alice"].get(url(demo.flow)).json()
    changed = api["alice"].get(url(demo.flow)).json()
    changed["processors"][-1]["concurrency"] = 5
    current = api["alice"].put(url(demo.flow), changed, format="json").json()
    stale["processors"].pop()  # deletes what the other save changed: that overlaps, so it is not merged
    stale["plugs"] = []

    response = api["alice"].put(url(demo.flow), stale, format="json")

    assert response.status_code == 409, response.content
    error = response.json()["error"]
    assert error["code"] == "conflict"
    assert error["current_version"] == current["version"]
    assert "version" in error["message"]
    current.pop("rights")
    assert graph(demo.flow) == current


def test_a_dangling_plug_answers_400_naming_the_field(api: dict[str, APIClient], demo: Demo) -> None:
    before = graph(demo.flow)
    doc = api["alice"].get(url(demo.flow)).json()
    doc["plugs"][0]["target"] = "no.such.socket"

    response = api["alice"].put(url(demo.flow), doc, format="json")

    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert list(error["fields"]) == ["plugs[0].target"]
    assert "no.such.socket" in error["message"]
    assert graph(demo.flow) == before


def test_a_missing_version_answers_400_naming_it(api: dict[str, APIClient], demo: Demo) -> None:
    before = graph(demo.flow)
    doc = api["alice"].get(url(demo.flow)).json()
    del doc["version"]
    doc["processors"].pop()
    doc["plugs"] = []

    response = api["alice"].put(url(demo.flow), doc, format="json")

    assert response.status_code == 400, response.content
    assert "version" in response.json()["error"]["fields"]
    assert graph(demo.flow) == before


def test_an_unknown_key_in_a_processor_answers_400_naming_it(api: dict[str, APIClient], demo: Demo) -> None:
    before = graph(demo.flow)
    doc = api["alice"].get(url(demo.flow)).json()
    doc["processors"][1]["concurency"] = 4

    response = api["alice"].put(url(demo.flow), doc, format="json")

    assert response.status_code == 400, response.content
    fields = response.json()["error"]["fields"]
    assert list(fields) == ["processors[1].concurency"]
    assert "Unknown field" in fields["processors[1].concurency"][0]
    assert graph(demo.flow) == before


def test_a_viewer_may_not_put_the_graph(api: dict[str, APIClient], demo: Demo) -> None:
    before = graph(demo.flow)
    doc = api["bob"].get(url(demo.flow)).json()
    doc["plugs"] = []

    response = api["bob"].put(url(demo.flow), doc, format="json")

    assert response.status_code == 403, response.content
    assert graph(demo.flow) == before


def test_export_then_import_gives_an_equal_graph_in_a_new_flow_of_the_importer(
    api: dict[str, APIClient], demo: Demo, alice: Any
) -> None:
    exported = api["bob"].get(f"/api/flows/{demo.flow.pk}/export")
    assert exported.status_code == 200, exported.content
    document = exported.json()
    assert document["format"] == "elasticcode.flow/1"
    assert document["plugs"] == [
        {"name": demo.plug.name, "source": demo.s1.name, "target": demo.s2.name, "kind": "result", "argument": ""}
    ]

    response = api["alice"].post("/api/flows/import/", {"document": document, "name": "copy"}, format="json")

    assert response.status_code == 201, response.content
    copy = Flow.objects.get(pk=response.json()["id"])
    assert (copy.name, copy.owner) == ("copy", alice)
    assert copy.pk != demo.flow.pk
    assert shape(graph(copy)) == shape(graph(demo.flow))
    assert response.json() == graph(copy)
    # New objects, not the original ones moved.
    assert not set(copy.processors.values_list("pk", flat=True)) & {demo.p1.pk, demo.p2.pk}
    assert Processor.objects.filter(flow=demo.flow).count() == 2


def test_importing_a_document_with_a_bad_plug_creates_no_flow(api: dict[str, APIClient], demo: Demo) -> None:
    document = api["alice"].get(f"/api/flows/{demo.flow.pk}/export").json()
    document["processors"][0]["sockets"].append({"name": "copy.extra", "function": "extra"})
    document["plugs"][0]["target"] = "no.such.socket"
    flows, processors, sockets, queues = (model.objects.count() for model in (Flow, Processor, Socket, Queue))

    response = api["alice"].post("/api/flows/import/", {"document": document, "name": "copy"}, format="json")

    assert response.status_code == 400, response.content
    assert list(response.json()["error"]["fields"]) == ["plugs[0].target"]
    assert not Flow.objects.filter(name="copy").exists()
    assert (Flow.objects.count(), Processor.objects.count(), Socket.objects.count(), Queue.objects.count()) == (
        flows,
        processors,
        sockets,
        queues,
    )


def test_a_processors_sockets_keep_the_users_order(api: dict[str, APIClient], demo: Demo) -> None:
    """Found in the designer: saving sorted a processor's sockets by name (split, count, aggregate became
    aggregate, count, split). The order of the document is the order kept, through saves, exports and imports."""
    doc = api["alice"].get(url(demo.flow)).json()
    doc["processors"][0]["sockets"] = [
        {"name": name, "function": "handle"} for name in ("demo.split", "demo.count", "demo.aggregate")
    ]
    doc["plugs"] = []
    saved = api["alice"].put(url(demo.flow), doc, format="json")
    assert saved.status_code == 200, saved.content
    names = [sock["name"] for sock in saved.json()["processors"][0]["sockets"]]
    assert names == ["demo.split", "demo.count", "demo.aggregate"]

    doc = saved.json()
    sockets = doc["processors"][0]["sockets"]
    doc["processors"][0]["sockets"] = [sockets[2], sockets[0], sockets[1]]  # moved, ids kept
    again = api["alice"].put(url(demo.flow), doc, format="json").json()
    assert [s["name"] for s in again["processors"][0]["sockets"]] == ["demo.aggregate", "demo.split", "demo.count"]

    exported = api["alice"].get(f"/api/flows/{demo.flow.pk}/export").json()
    copy = api["alice"].post("/api/flows/import/", {"document": exported, "name": "copy"}, format="json")
    assert copy.status_code == 201, copy.content
    copied = api["alice"].get(f"/api/flows/{copy.json()['id']}/graph").json()
    first = next(p for p in copied["processors"] if p["name"] == doc["processors"][0]["name"])
    assert [s["name"] for s in first["sockets"]] == ["demo.aggregate", "demo.split", "demo.count"]

    added = api["alice"].post(
        "/api/sockets/", {"processor": doc["processors"][0]["id"], "name": "demo.last", "function": "f"}, format="json"
    )
    assert added.status_code == 201, added.content
    after = api["alice"].get(url(demo.flow)).json()
    assert [s["name"] for s in after["processors"][0]["sockets"]][-1] == "demo.last"


def test_a_save_from_an_older_version_merges_changes_that_do_not_overlap(api: dict[str, APIClient], demo: Demo) -> None:
    """Found by a designer: a second editor could only export or reload, even when one moved a node and the other
    changed a setting elsewhere. The server merges from the version each edited (issue 16)."""
    mine = api["alice"].get(url(demo.flow)).json()
    theirs = api["alice"].get(url(demo.flow)).json()
    theirs["processors"][1]["concurrency"] = 3
    first = api["alice"].put(url(demo.flow), theirs, format="json")
    assert first.status_code == 200, first.content
    mine["processors"][0]["position"] = {"x": 123.0, "y": 45.0}
    merged = api["alice"].put(url(demo.flow), mine, format="json")
    assert merged.status_code == 200, merged.content
    doc = merged.json()
    assert doc["version"] == first.json()["version"] + 1
    assert doc["processors"][0]["position"] == {"x": 123.0, "y": 45.0}
    assert doc["processors"][1]["concurrency"] == 3


def test_a_save_from_an_older_version_that_overlaps_answers_409_saying_what(
    api: dict[str, APIClient], demo: Demo
) -> None:
    mine = api["alice"].get(url(demo.flow)).json()
    theirs = api["alice"].get(url(demo.flow)).json()
    theirs["processors"][0]["concurrency"] = 4
    assert api["alice"].put(url(demo.flow), theirs, format="json").status_code == 200
    mine["processors"][0]["concurrency"] = 2
    refused = api["alice"].put(url(demo.flow), mine, format="json")
    assert refused.status_code == 409, refused.content
    error = refused.json()["error"]
    name = mine["processors"][0]["name"]
    assert f"you both changed processor {name} concurrency" in error["message"]
    assert error["conflicts"] == [{"object": f"processor {name}", "field": "concurrency", "yours": 2, "theirs": 4}]
    assert graph(demo.flow)["processors"][0]["concurrency"] == 4  # nothing of the refused save was applied
