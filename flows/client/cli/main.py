"""The `ec` root command: global options, the command groups, and `main()` (the console script).

Exit codes: 0 done, 1 refused or failed (the server said no, a call failed), 2 usage, 3 cannot reach the server or
not logged in, 124 out of time. Expected failures print one line `ec: <reason>` on stderr, never a traceback.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

import click

from flows.client.cli import add, auth, delete, flow, ls, proc, scheduler, task, update
from flows.client.cli.groups import Group
from flows.client.cli.state import State
from flows.client.cli.tap import tap


def _version() -> str:
    try:
        return version("elasticcode")
    except PackageNotFoundError:
        return "unknown"


@click.group(cls=Group)
@click.option("--url", envvar=None, metavar="URL", help="The server (default: ELASTICCODE_URL, then `ec login`'s).")
@click.option("--token", metavar="TOKEN", help="The API token (default: ELASTICCODE_TOKEN, then `ec login`'s).")
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON (objects, arrays) instead of tables.")
@click.option("-v", "--verbose", is_flag=True, help="More detail, e.g. the remote traceback of a failed call.")
@click.version_option(_version(), prog_name="ec")
@click.pass_context
def cli(ctx: click.Context, url: str | None, token: str | None, as_json: bool, verbose: bool) -> None:
    """ElasticCode from the command line: build flows (queues, processors, sockets, plugs), run tasks, look at
    what ran. Log in once with `ec login --url URL`; objects made without --flow go to your flow "default"."""
    obj = ctx.ensure_object(State)
    obj.url, obj.token, obj.verbose = url, token, verbose
    obj.json = obj.json or as_json


for command in (
    add.add,
    ls.ls,
    update.update,
    delete.delete,
    proc.proc,
    task.task,
    flow.flow,
    scheduler.scheduler,
    tap,
    auth.login,
    auth.logout,
    auth.whoami,
):
    cli.add_command(command)


def main() -> None:
    cli.main(prog_name="ec")


if __name__ == "__main__":
    main()
