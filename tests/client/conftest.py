"""Fixtures for the SDK and the `ec` command line against a live server.

`api_server`: the URL of a real Daphne serving the test database (transactional, so the server sees the rows a
test writes). `token_for(user)`: that user's API token. `ec(...)`: runs the real command line in a subprocess, as
alice unless `user=` says otherwise, with a private XDG_CONFIG_HOME, and returns the CompletedProcess.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from rest_framework.authtoken.models import Token

from tests.live import daphne

BASE_DIR = Path(__file__).resolve().parents[2]
EC = [sys.executable, "-m", "flows.client.cli.main"]


def ec_env(config_home: Path, *, url: str | None = None, token: str | None = None, **extra: str) -> dict[str, str]:
    """The environment `ec` runs in: no ElasticCode variables but those given, its own config directory."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("ELASTICCODE_")}
    env.update({"XDG_CONFIG_HOME": str(config_home), "PYTHONPATH": str(BASE_DIR), "COLUMNS": "200", **extra})
    if url is not None:
        env["ELASTICCODE_URL"] = url
    if token is not None:
        env["ELASTICCODE_TOKEN"] = token
    return env


def run_ec(
    *args: str, env: dict[str, str], input: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`ec ARGS` in a subprocess (stdin is `input`, or empty: never a terminal)."""
    return subprocess.run(
        [*EC, *args], cwd=BASE_DIR, env=env, input=input or "", capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture
def api_server(transactional_db: Any) -> Iterator[str]:
    with daphne() as url:
        yield url


@pytest.fixture
def token_for() -> Callable[[Any], str]:
    def token(user: Any) -> str:
        return str(Token.objects.get_or_create(user=user)[0].key)

    return token


class Ec:
    """`ec("ls", "sockets", user=charlie, input="...")`: the command line as a user of the live server."""

    def __init__(self, url: str, token_for: Callable[[Any], str], user: Any, config_home: Path) -> None:
        self.url = url
        self.token_for = token_for
        self.user = user
        self.config_home = config_home

    def env(self, user: Any = None, **extra: str) -> dict[str, str]:
        return ec_env(self.config_home, url=self.url, token=self.token_for(user or self.user), **extra)

    def __call__(
        self, *args: str, user: Any = None, input: str | None = None, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return run_ec(*args, env={**self.env(user), **(env or {})}, input=input)


@pytest.fixture
def ec(api_server: str, token_for: Callable[[Any], str], alice: Any, tmp_path: Path) -> Ec:
    config_home = tmp_path / "config"
    config_home.mkdir()
    return Ec(api_server, token_for, alice, config_home)
