"""The call-graph drawing of `ec ls call --id … -g`, and how a call's duration reads: pure layout, tested without a
server."""

from __future__ import annotations

from typing import Any

from flows.client.cli.tree import draw


def node(name: str, *children: dict[str, Any], status: str = "succeeded") -> dict[str, Any]:
    return {"socket_name": name, "status": status, "children": list(children)}


def test_a_single_call_is_its_name() -> None:
    assert draw([node("do_something")]) == ["do_something"]


def test_a_chain_hangs_each_call_under_its_parent() -> None:
    assert draw([node("first", node("second", node("third")))]) == [
        "first",
        "  │",
        "second",
        "  │",
        "third",
    ]


def test_the_seeds_picture_centres_each_parent_over_its_children() -> None:
    """The shape of the seed's `pyfi ls call --id … -g`: one call, one child, three grandchildren."""
    ds = "sample.do_something"
    lines = draw([node(ds, node(ds, node(ds), node(ds), node(ds)))])
    assert lines == [
        "                      sample.do_something",
        "                               │",
        "                      sample.do_something",
        " " * 9 + "┌" + "─" * 21 + "┼" + "─" * 21 + "┐",
        "sample.do_something   sample.do_something   sample.do_something",
    ]
    # Every connector stands exactly under the centre of the name it joins.
    assert lines[1].index("│") == lines[0].index("s") + (len(ds) - 1) // 2
    assert [i for i, c in enumerate(lines[3]) if c in "┌┼┐"] == [9, 31, 53]


def test_an_even_number_of_children_puts_the_parent_between_them() -> None:
    assert draw([node("root", node("a"), node("b"))]) == [
        " root",
        "┌─┴─┐",
        "a   b",
    ]


def test_a_parent_wider_than_its_children_shifts_them_under_it() -> None:
    lines = draw([node("a-rather-long-parent", node("x"), node("y"))])
    assert lines == [
        "a-rather-long-parent",
        "       ┌─┴─┐",
        "       x   y",
    ]


def test_subtrees_of_different_widths_do_not_overlap() -> None:
    tree = node("r", node("a"), node("bbbbbbb", node("x"), node("y")), node("c"))
    assert draw([tree]) == [
        "       r",
        "┌──────┼──────┐",
        "a   bbbbbbb   c",
        "     ┌─┴─┐",
        "     x   y",
    ]


def test_failed_calls_are_marked() -> None:
    lines = draw([node("split", node("count", status="failed"), node("count"), node("count", status="dead"))])
    assert lines[-1] == "count ✗   count   count ✗"


def test_several_roots_are_drawn_one_after_the_other() -> None:
    assert draw([node("a"), node("b", node("c"))]) == ["a", "", "b", "│", "c"]


def test_a_calls_duration_reads_as_milliseconds_not_a_float_dump() -> None:
    """Found by a newcomer: `ec ls calls` printed 0.002444001438561827."""
    from flows.client.cli.output import milliseconds

    read = milliseconds("duration_ms")
    assert [read({"duration_ms": v}) for v in (0.002444001438561827, 3.456, 1234.5)] == ["0.002", "3.5", "1234"]
    assert read({"duration_ms": None}) is None and read({}) is None
