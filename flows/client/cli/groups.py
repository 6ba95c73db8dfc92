"""A click group that also answers to other names (`ec ls socket` as `ec ls sockets`) and turns the client's
errors into one-line failures with the documented exit codes."""

from __future__ import annotations

from typing import Any

import click

from flows.client.cli.state import Failure, NoServer, OutOfTime, State
from flows.client.errors import ApiError, CallFailed, CallTimeout, ClientError, NotConfigured, Unreachable


def failure(error: ClientError, *, verbose: bool) -> Failure:
    """The one line (and exit code) for an error the client raised on purpose."""
    if isinstance(error, CallFailed):
        detail = (
            f"Remote traceback (on the worker):\n{error.remote_traceback}" if verbose and error.remote_traceback else ""
        )
        return Failure(str(error.args[0]), detail=detail)
    if isinstance(error, CallTimeout):
        return OutOfTime(str(error))
    if isinstance(error, NotConfigured | Unreachable):
        return NoServer(str(error))
    if isinstance(error, ApiError) and error.status == 401:
        return NoServer(f"{error.message.split(' Send ')[0]} Log in again with `ec login --url URL`.")
    if isinstance(error, ApiError):
        return Failure(error.message or str(error))
    return Failure(str(error))


class Group(click.Group):
    """Subcommands with aliases; the root group translates errors once for every command below it."""

    def __init__(self, *args: Any, aliases: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.aliases = dict(aliases or {})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return super().get_command(ctx, self.aliases.get(cmd_name, cmd_name))

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        return (command.name if command else name), command, rest

    def invoke(self, ctx: click.Context) -> Any:
        if ctx.parent is not None:
            return super().invoke(ctx)
        try:
            return super().invoke(ctx)
        except ClientError as error:
            obj = ctx.find_object(State)
            raise failure(error, verbose=bool(obj and obj.verbose)) from None
        except RecursionError:
            # Data nested deeper than Python's JSON goes (about 1,000 levels), from a file or stdin.
            raise Failure("the data is JSON nested too deeply to encode or read; flatten it") from None
        finally:
            obj = ctx.find_object(State)
            if obj is not None:
                obj.close()
