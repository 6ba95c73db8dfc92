"""`ec login`, `ec logout`, `ec whoami`: the token in ~/.config/elasticcode/config.toml (mode 0600)."""

from __future__ import annotations

import sys

import click

from flows.client import config
from flows.client.cli import output
from flows.client.cli.state import Failure, json_option, state
from flows.client.errors import ApiError, NotConfigured, Unreachable
from flows.client.http import Api
from flows.client.http import login as token_for


def read_secret(prompt: str, *, from_stdin: bool, confirm: bool = False) -> str:
    """A password from the first line of stdin (--password-stdin) or typed at a hidden prompt."""
    if from_stdin:
        secret = sys.stdin.readline().rstrip("\r\n")
    elif sys.stdin.isatty():
        secret = click.prompt(prompt, hide_input=True, confirmation_prompt=confirm)
    else:
        raise Failure("no terminal to ask for the password on: pass --password-stdin and write it to stdin")
    if not secret:
        raise Failure("the password is empty")
    return secret


@click.command()
@click.option("--url", "login_url", metavar="URL", help="The server, e.g. http://127.0.0.1:8000.")
@click.option("--username", "-u", help="Asked for when left out.")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin (for scripts).")
def login(login_url: str | None, username: str | None, password_stdin: bool) -> None:
    """Log in and store the token.

    The token is kept in ~/.config/elasticcode/config.toml (or under $XDG_CONFIG_HOME), readable only by you."""
    url = (login_url or state().url or _known_url() or "").rstrip("/")
    if not url:
        raise click.UsageError("give the server: ec login --url URL")
    if not username:
        if not sys.stdin.isatty():
            raise Failure("no terminal to ask for the username on: pass --username")
        username = str(click.prompt("Username"))
    password = read_secret("Password", from_stdin=password_stdin)
    token = token_for(url, username, password)
    path = config.save(config.Settings(url=url, token=token, username=username))
    output.say(f"Logged in to {url} as {username}", {"url": url, "username": username, "config": str(path)})


def _known_url() -> str:
    try:
        return config.load(token="-").url
    except NotConfigured:
        return ""


@click.command()
def logout() -> None:
    """Revoke the stored token on the server, then forget it.

    The file is removed even when the server cannot be reached; the token then stays valid there until it is
    revoked (another `ec login` + `ec logout`, or the admin)."""
    saved = config.stored()
    path = config.config_path()
    if not config.forget():
        output.say("Not logged in (no stored token).")
        return
    revoked = _revoke(saved.get("url", ""), saved.get("token", ""))
    output.say(f"Logged out (removed {path}; {revoked})", {"config": str(path), "revoked": revoked})


def _revoke(url: str, token: str) -> str:
    if not url or not token:
        return "there was no token to revoke"
    api = Api(url, token)
    try:
        api.delete("/api/auth/token/")
    except ApiError as error:
        if error.status == 401:
            return "the server no longer knew the token"
        return f"the server did not revoke the token: {error.message}"
    except Unreachable as error:
        return f"the token is still valid on the server, which could not be reached: {error}"
    finally:
        api.close()
    return "the token is revoked on the server"


@click.command()
@json_option
def whoami() -> None:
    """Who the token belongs to, and on which server."""
    me = state().api.get("/api/users/me/")
    if state().json:
        output.dump(me)
        return
    roles = f" (roles: {', '.join(me['groups'])})" if me.get("groups") else ""
    click.echo(f"{me['username']} on {state().api.url}{roles}")
