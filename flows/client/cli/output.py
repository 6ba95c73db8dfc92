"""Tables for people (rich, no colours when stdout is not a terminal), JSON for scripts, a spinner while waiting."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import click
from rich import box
from rich.console import Console
from rich.table import Table

from flows.client.cli.state import state

# A column: its heading and how to get the cell from an API object.
Column = tuple[str, Callable[[dict[str, Any]], Any]]


def field(name: str) -> Callable[[dict[str, Any]], Any]:
    return lambda item: item.get(name)


def milliseconds(name: str) -> Callable[[dict[str, Any]], Any]:
    """A duration in ms as read: three decimals under 1 ms (a no-op's 0.002), one under 100, none above (found by a
    newcomer reading 0.002444001438561827)."""

    def read(item: dict[str, Any]) -> str | None:
        value = item.get(name)
        if not isinstance(value, int | float) or isinstance(value, bool):
            return None
        return f"{value:.3f}" if value < 1 else f"{value:.1f}" if value < 100 else f"{value:.0f}"

    return read


TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def cell(value: Any) -> str:
    """A table cell: API timestamps in local time to the second, lists joined, None empty."""
    if isinstance(value, str) and TIMESTAMP.match(value):
        return datetime.fromisoformat(value).astimezone().strftime("%Y-%m-%d %H:%M:%S")
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(cell(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _console() -> Console:
    # Not a terminal (a pipe, a file): no colours, and wide enough that a row is never folded onto two lines.
    tty = sys.stdout.isatty()
    return Console(highlight=False, no_color=not tty, width=None if tty else 400, soft_wrap=not tty)


def table(items: Sequence[dict[str, Any]], columns: Sequence[Column], *, title: str | None = None) -> None:
    grid = Table(box=box.ASCII2, title=title, title_justify="left", show_lines=False, pad_edge=True)
    for heading, _ in columns:
        grid.add_column(heading, overflow="fold")
    for item in items:
        grid.add_row(*(cell(get(item)) for _, get in columns))
    _console().print(grid)


def dump(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False, default=str))


def show(items: Any, columns: Sequence[Column], *, empty: str, title: str | None = None) -> None:
    """A list (or one object) as a table, or as JSON with --json. `empty` is said (on stderr) when there is none."""
    if state().json:
        dump(items)
        return
    rows = items if isinstance(items, list) else [items]
    if not rows:
        click.echo(empty, err=True)
        return
    table(rows, columns, title=title)


def say(message: str, obj: Any = None) -> None:
    """What a change did: the sentence for people, the object the API answered with --json."""
    if state().json:
        dump(obj if obj is not None else {"message": message})
    else:
        click.echo(message)


@contextmanager
def spinner(text: str) -> Iterator[Callable[[str], None]]:
    """A spinner on stderr while waiting on the server, only when stderr is a terminal. Yields a function that
    changes the text."""
    if not sys.stderr.isatty():
        yield lambda _text: None
        return
    console = Console(stderr=True)
    with console.status(text) as status:
        yield lambda new: status.update(new)
