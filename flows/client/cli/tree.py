"""A call trace drawn top-down, as in the seed's `ls call --id … -g`: each name centred above its children, joined
by box-drawing connectors. Pure functions (tree dicts in, lines out), so they are tested without a server.

    do_something
         │
    do_something
   ┌─────┴──────┬─────────────┐
  a            b             c
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

GAP = 3  # spaces between sibling subtrees
FAILED = frozenset({"failed", "dead", "raised"})


def call_label(node: dict[str, Any]) -> str:
    """The socket's name; a failed call is marked with " ✗"."""
    name = str(node.get("socket_name") or node.get("socket") or "?")
    return f"{name} ✗" if node.get("status") in FAILED else name


@dataclass
class _Block:
    lines: list[str]  # every line exactly `width` characters wide
    width: int
    center: int  # column of the root's label centre


def _centre(text: str) -> int:
    return (len(text) - 1) // 2


def _pad(lines: list[str], width: int, height: int) -> list[str]:
    return [line.ljust(width) for line in lines] + [" " * width] * (height - len(lines))


def _connector(width: int, parent: int, children: list[int]) -> str:
    if len(children) == 1:
        row = [" "] * width
        row[children[0]] = "│"
        return "".join(row)
    first, last = children[0], children[-1]
    row = [" "] * first + ["─"] * (last - first + 1) + [" "] * (width - last - 1)
    for column in children[1:-1]:
        row[column] = "┼" if column == parent else "┬"
    row[first], row[last] = "┌", "┐"
    if parent not in children:
        row[parent] = "┴"
    return "".join(row)


def _block(node: dict[str, Any], label: Callable[[dict[str, Any]], str]) -> _Block:
    text = label(node)
    kids = [_block(child, label) for child in node.get("children") or []]
    if not kids:
        return _Block([text], len(text), _centre(text))

    # The children side by side, GAP apart.
    height = max(len(kid.lines) for kid in kids)
    row_width = sum(kid.width for kid in kids) + GAP * (len(kids) - 1)
    centres, offset = [], 0
    for kid in kids:
        centres.append(offset + kid.center)
        offset += kid.width + GAP
    rows = [
        (" " * GAP).join(parts) for parts in zip(*(_pad(kid.lines, kid.width, height) for kid in kids), strict=True)
    ]

    # The parent centred over the span of its children's centres; shift the children right if it would not fit.
    parent = (centres[0] + centres[-1]) // 2
    start = parent - _centre(text)
    shift = max(0, -start)
    start += shift
    parent += shift
    centres = [c + shift for c in centres]
    width = max(shift + row_width, start + len(text))
    lines = [
        (" " * start + text).ljust(width),
        _connector(width, parent, centres),
        *((" " * shift + row).ljust(width) for row in rows),
    ]
    return _Block(lines, width, parent)


def draw(roots: Sequence[dict[str, Any]], label: Callable[[dict[str, Any]], str] = call_label) -> list[str]:
    """The lines of each root's tree (a blank line between trees), right-trimmed."""
    lines: list[str] = []
    for index, root in enumerate(roots):
        if index:
            lines.append("")
        lines.extend(line.rstrip() for line in _block(root, label).lines)
    return lines
