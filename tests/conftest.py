"""Personas (STYLE.md): alice owns a flow, bob shares it read-only, charlie has no access to anything.

All tests run against the real PostgreSQL and Redis that `make test` starts (backend/devstack.py exec).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from backend.accounts.services import privilege_grant
from flows.models import Flow, Plug, Processor, Socket
from tests.factories import PlugFactory, ProcessorFactory, SocketFactory, make_flow, make_user


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--benchmarks", action="store_true", help="run the benchmarks in tests/benchmarks")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--benchmarks"):
        return
    skip = pytest.mark.skip(reason="benchmark: run with `make bench`")
    for item in items:
        if "benchmark" in item.keywords:
            item.add_marker(skip)


@dataclass
class Demo:
    """alice's flow: two processors, a socket each, one plug between them."""

    flow: Flow
    p1: Processor
    p2: Processor
    s1: Socket
    s2: Socket
    plug: Plug


@pytest.fixture
def alice(db: Any) -> Any:
    return make_user("alice", "CREATE")


@pytest.fixture
def bob(db: Any) -> Any:
    return make_user("bob")


@pytest.fixture
def charlie(db: Any) -> Any:
    return make_user("charlie")


@pytest.fixture
def admin_user(db: Any) -> Any:
    user = make_user("root")
    user.is_superuser = True
    user.is_staff = True
    user.save()
    return user


def build_demo(owner: Any, name: str = "demo") -> Demo:
    flow = make_flow(owner, name)
    p1 = ProcessorFactory(flow=flow, name="proc1")
    p2 = ProcessorFactory(flow=flow, name="proc2")
    s1 = SocketFactory(processor=p1, name=f"{name}.proc1.do_something", function="do_something")
    s2 = SocketFactory(processor=p2, name=f"{name}.proc2.do_this", function="do_this")
    plug = PlugFactory(source=s1, target=s2, name="p1-to-p2")
    flow.refresh_from_db()
    return Demo(flow, p1, p2, s1, s2, plug)


@pytest.fixture
def demo(alice: Any, bob: Any) -> Demo:
    demo = build_demo(alice)
    privilege_grant(right="VIEW_FLOW", user=bob, obj=demo.flow, granted_by=alice)
    return demo


def client_for(user: Any | None) -> APIClient:
    client = APIClient()
    if user is not None:
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def api(alice: Any, bob: Any, charlie: Any, admin_user: Any) -> dict[str, APIClient]:
    return {
        "alice": client_for(alice),
        "bob": client_for(bob),
        "charlie": client_for(charlie),
        "admin": client_for(admin_user),
        "anonymous": client_for(None),
    }
