"""The graph GET costs a fixed number of queries, whatever the size of the flow."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from flows.models import Flow, Plug
from tests.conftest import client_for
from tests.factories import bulk_processors, make_flow

MAX_QUERIES = 14  # auth, the flow, the graph's three reads, the caller's rights; none per object


def populate(flow: Flow, processors: int) -> None:
    """Bulk-create `processors` processors with two sockets each, chained by result plugs."""
    _, sockets = bulk_processors(flow, processors)
    Plug.objects.bulk_create(
        Plug(flow=flow, name=f"plug{i}", source=sockets[i], target=sockets[i + 1]) for i in range(len(sockets) - 1)
    )


def graph_queries(user: Any, flow: Flow) -> int:
    client = client_for(user)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(f"/api/flows/{flow.id}/graph")
    assert response.status_code == 200
    return len(queries)


def test_graph_get_of_200_processors_runs_a_fixed_number_of_queries(
    alice: Any, django_assert_max_num_queries: Any
) -> None:
    small = make_flow(alice, "small")
    populate(small, 5)
    big = make_flow(alice, "big")
    populate(big, 200)

    with django_assert_max_num_queries(MAX_QUERIES):
        response = client_for(alice).get(f"/api/flows/{big.id}/graph")
    graph = response.json()
    assert len(graph["processors"]) == 200
    assert sum(len(p["sockets"]) for p in graph["processors"]) == 400
    assert len(graph["plugs"]) == 399
    graph_queries(alice, small)  # warm per-process caches
    assert graph_queries(alice, big) == graph_queries(alice, small)


@pytest.mark.parametrize("path", ["/api/processors/", "/api/sockets/", "/api/plugs/", "/api/flows/"])
def test_lists_do_not_grow_queries_with_rows(alice: Any, path: str) -> None:
    small = make_flow(alice, "small")
    populate(small, 3)
    client = client_for(alice)
    client.get(path)  # warm Django's per-process caches (content types), which are not per-row costs
    with CaptureQueriesContext(connection) as few:
        assert client.get(path).status_code == 200
    big = make_flow(alice, "big")
    populate(big, 40)
    with CaptureQueriesContext(connection) as many:
        assert client.get(path).status_code == 200
    assert len(many) == len(few)
