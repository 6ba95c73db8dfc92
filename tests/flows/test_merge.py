"""The three-way merge of graph documents behind a save from an older version (flows/services/merge.py)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from flows.services.merge import NotMergeable, merge


def proc(pid: str, name: str, sockets: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    return {
        "id": pid,
        "name": name,
        "git_url": "file:///r",
        "ref": "main",
        "module": "m",
        "subdirectory": "",
        "requirements": "",
        "concurrency": 1,
        "autoscale_max": 0,
        "retries": 3,
        "time_limit": 300,
        "rate_limit": "",
        "position": {"x": 0.0, "y": 0.0},
        "sockets": sockets,
        **fields,
    }


def sock(sid: str, name: str) -> dict[str, Any]:
    return {"id": sid, "name": name, "function": name, "queue": f"q.{sid}", "schedule": None, "max_queue_length": None}


def base_doc() -> dict[str, Any]:
    return {
        "name": "f",
        "description": "",
        "version": 3,
        "processors": [
            proc("p1", "greeter", [sock("s1", "a"), sock("s2", "b")]),
            proc("p2", "words", [sock("s3", "c")], position={"x": 400.0, "y": 0.0}),
        ],
        "plugs": [{"id": "g1", "name": "a-b", "source": "s1", "target": "s2", "kind": "result", "argument": ""}],
    }


def by_id(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["id"]: p for p in doc["processors"]}


def test_a_move_here_and_a_setting_there_both_stay() -> None:
    base = base_doc()
    theirs, mine = copy.deepcopy(base), copy.deepcopy(base)
    theirs["processors"][1]["concurrency"] = 4
    mine["processors"][0]["position"] = {"x": 10.0, "y": 20.0}
    merged = merge(base, theirs, mine)
    assert merged.conflicts == []
    assert by_id(merged.doc)["p2"]["concurrency"] == 4
    assert by_id(merged.doc)["p1"]["position"] == {"x": 10.0, "y": 20.0}
    assert [s["id"] for s in by_id(merged.doc)["p1"]["sockets"]] == ["s1", "s2"]


def test_additions_on_both_sides_and_a_delete_are_kept() -> None:
    base = base_doc()
    theirs, mine = copy.deepcopy(base), copy.deepcopy(base)
    theirs["processors"].append(proc("p3", "theirs", [sock("s9", "z")]))
    mine["processors"][1]["sockets"].append(sock("s4", "d"))
    mine["plugs"].append({"id": "g2", "name": "c-d", "source": "s3", "target": "s4", "kind": "result", "argument": ""})
    mine["plugs"] = [p for p in mine["plugs"] if p["id"] != "g1"]
    merged = merge(base, theirs, mine)
    assert merged.conflicts == []
    assert set(by_id(merged.doc)) == {"p1", "p2", "p3"}
    assert [s["id"] for s in by_id(merged.doc)["p2"]["sockets"]] == ["s3", "s4"]
    assert [p["id"] for p in merged.doc["plugs"]] == ["g2"]


def test_the_same_field_changed_differently_is_a_conflict_naming_it() -> None:
    base = base_doc()
    theirs, mine = copy.deepcopy(base), copy.deepcopy(base)
    theirs["processors"][0]["concurrency"] = 4
    mine["processors"][0]["concurrency"] = 2
    merged = merge(base, theirs, mine)
    assert merged.conflicts == [{"object": "processor greeter", "field": "concurrency", "yours": 2, "theirs": 4}]


def test_the_same_change_on_both_sides_is_no_conflict() -> None:
    base = base_doc()
    theirs, mine = copy.deepcopy(base), copy.deepcopy(base)
    theirs["processors"][0]["retries"] = 0
    mine["processors"][0]["retries"] = 0
    assert merge(base, theirs, mine).conflicts == []


def test_an_edit_of_what_the_other_deleted_is_a_conflict() -> None:
    base = base_doc()
    theirs, mine = copy.deepcopy(base), copy.deepcopy(base)
    theirs["processors"] = [theirs["processors"][0]]
    mine["processors"][1]["retries"] = 9
    conflicts = merge(base, theirs, mine).conflicts
    assert {"object": "processor words", "field": "", "yours": "changed", "theirs": "deleted"} in conflicts


def test_a_plug_between_sockets_named_not_by_id_cannot_be_merged() -> None:
    base = base_doc()
    mine = copy.deepcopy(base)
    mine["plugs"][0]["source"] = "a"
    with pytest.raises(NotMergeable):
        merge(base, copy.deepcopy(base), mine)


def test_a_socket_added_there_and_the_order_changed_here_both_stay() -> None:
    base = base_doc()
    theirs, mine = copy.deepcopy(base), copy.deepcopy(base)
    theirs["processors"][0]["sockets"].append(sock("s5", "e"))
    mine["processors"][0]["sockets"].reverse()
    merged = merge(base, theirs, mine)
    assert merged.conflicts == []
    assert [s["id"] for s in by_id(merged.doc)["p1"]["sockets"]] == ["s2", "s1", "s5"]
