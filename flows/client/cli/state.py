"""What every command shares: the global options, the connection made from them, and the ways `ec` fails."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import click

from flows.client import config
from flows.client.http import Api


class Failure(click.ClickException):
    """An expected failure: one line `ec: <reason>` on stderr and exit 1 (refused, or failed), never a traceback.

    Exit codes: 1 refused or failed, 2 usage (click's own), 3 cannot reach the server or not logged in
    (NoServer), 124 out of time (OutOfTime, as timeout(1) exits).
    """

    exit_code = 1

    def __init__(self, message: str, *, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail

    def show(self, file: Any = None) -> None:
        click.echo(f"ec: {self.message}", err=True)
        if self.detail:
            click.echo(self.detail.rstrip(), err=True)


class NoServer(Failure):
    """Cannot reach the server, or no login to reach it with."""

    exit_code = 3


class OutOfTime(Failure):
    exit_code = 124


@dataclass
class State:
    """ctx.obj: the global options and a connection opened on first use."""

    url: str | None = None
    token: str | None = None
    json: bool = False
    verbose: bool = False
    _api: Api | None = field(default=None, repr=False)
    _default_flow: dict[str, Any] | None = field(default=None, repr=False)
    # Look-ups made once per command (e.g. flow id → name for a table).
    cache: dict[str, Any] = field(default_factory=dict, repr=False)

    def settings(self) -> config.Settings:
        return config.load(self.url, self.token)

    @property
    def api(self) -> Api:
        if self._api is None:
            settings = self.settings()
            self._api = Api(settings.url, settings.token)
        return self._api

    def default_flow(self) -> dict[str, Any]:
        """The caller's flow named "default" (made on first use): where objects made without --flow go."""
        if self._default_flow is None:
            self._default_flow = dict(self.api.post("/api/flows/default/"))
        return self._default_flow

    def close(self) -> None:
        if self._api is not None:
            self._api.close()


def state() -> State:
    """The State of the command being run."""
    return click.get_current_context().ensure_object(State)


def set_json(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        ctx.ensure_object(State).json = True


def json_option(fn: Any) -> Any:
    """`--json` after the command too (`ec ls flows --json`), the same as `ec --json ls flows`."""
    return click.option(
        "--json",
        is_flag=True,
        expose_value=False,
        is_eager=True,
        callback=set_json,
        help="Print the API's JSON (for scripts).",
    )(fn)


def flow_option(fn: Any) -> Any:
    return click.option("--flow", "flow", metavar="FLOW", help="The flow (name or id) the object is in.")(fn)
