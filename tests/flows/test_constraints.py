"""The database keeps a flow's graph consistent even when the services are bypassed (the ORM, a script, psql).

Several constraints are DEFERRABLE INITIALLY DEFERRED (so a graph save may swap names); `SET CONSTRAINTS ALL
IMMEDIATE` makes PostgreSQL check them now instead of at commit, which in a test never comes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models import ProtectedError

from flows.models import Flow, Plug, Processor, Queue, Socket
from tests.conftest import Demo, build_demo
from tests.factories import ProcessorFactory, QueueFactory, SocketFactory, make_flow


def check_now() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def assert_refused(write: Callable[[], object]) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        write()
        check_now()


def assert_accepted(write: Callable[[], object]) -> None:
    with transaction.atomic():
        write()
        check_now()


@pytest.fixture
def other(alice: Any) -> Demo:
    """A second flow of alice's, with the same processor names as demo.flow."""
    return build_demo(alice, "other")


def test_it_refuses_two_processors_with_one_name_in_a_flow(demo: Demo) -> None:
    assert_refused(lambda: ProcessorFactory(flow=demo.flow, name="proc1"))
    assert Processor.objects.filter(flow=demo.flow, name="proc1").count() == 1


def test_it_accepts_one_processor_name_in_two_flows(demo: Demo, alice: Any) -> None:
    empty = make_flow(alice, "empty")
    assert_accepted(lambda: ProcessorFactory(flow=empty, name="proc1"))
    assert set(Processor.objects.filter(name="proc1").values_list("flow_id", flat=True)) == {demo.flow.pk, empty.pk}


def test_it_refuses_two_sockets_with_one_name_in_a_flow(demo: Demo) -> None:
    # On another processor of the same flow: socket names are unique per flow, not per processor.
    assert_refused(lambda: SocketFactory(processor=demo.p2, name=demo.s1.name))
    assert Socket.objects.filter(flow=demo.flow, name=demo.s1.name).count() == 1


def test_it_accepts_one_socket_name_in_two_flows(demo: Demo, other: Demo) -> None:
    assert_accepted(lambda: SocketFactory(processor=other.p1, name=demo.s1.name))
    assert Socket.objects.filter(name=demo.s1.name).count() == 2


def test_it_refuses_two_plugs_with_one_name_in_a_flow(demo: Demo) -> None:
    # Reverse direction, so only the name clashes (not the source/target/kind edge).
    assert_refused(lambda: Plug.objects.create(flow=demo.flow, name=demo.plug.name, source=demo.s2, target=demo.s1))
    assert Plug.objects.filter(flow=demo.flow).count() == 1


def test_it_refuses_the_same_edge_twice(demo: Demo) -> None:
    assert_refused(lambda: Plug.objects.create(flow=demo.flow, name="again", source=demo.s1, target=demo.s2))


def test_it_refuses_a_plug_from_a_socket_to_itself(demo: Demo) -> None:
    assert_refused(lambda: Plug.objects.create(flow=demo.flow, name="loop", source=demo.s1, target=demo.s1))
    assert not Plug.objects.filter(name="loop").exists()


@pytest.mark.parametrize("end", ["source", "target"])
def test_it_refuses_a_plug_joining_sockets_of_two_flows(demo: Demo, other: Demo, end: str) -> None:
    ends = {"source": demo.s1, "target": demo.s2, end: other.s1}
    assert_refused(lambda: Plug.objects.create(flow=demo.flow, name="across", **ends))
    assert not Plug.objects.filter(name="across").exists()


def test_it_refuses_a_socket_in_another_flow_than_its_processor(demo: Demo, other: Demo) -> None:
    assert_refused(lambda: SocketFactory(processor=demo.p1, flow=other.flow, name="astray"))
    assert not Socket.objects.filter(name="astray").exists()


def test_it_refuses_moving_a_processor_away_from_its_sockets(demo: Demo, other: Demo) -> None:
    assert_refused(lambda: Processor.objects.filter(pk=demo.p1.pk).update(flow=other.flow, name="moved"))
    demo.p1.refresh_from_db()
    assert demo.p1.flow_id == demo.flow.pk


@pytest.mark.parametrize(
    ("model", "field", "value"),
    [
        (Processor, "status", "exploded"),
        (Processor, "requested_status", "dancing"),
        (Processor, "concurrency", 0),
        (Processor, "concurrency", 65),
        (Plug, "kind", "maybe"),
    ],
)
def test_it_refuses_values_outside_the_choices(
    demo: Demo, model: type[Processor | Plug], field: str, value: Any
) -> None:
    obj = demo.p1 if model is Processor else demo.plug
    assert_refused(lambda: model.objects.filter(pk=obj.pk).update(**{field: value}))
    assert getattr(model.objects.get(pk=obj.pk), field) == getattr(obj, field)


def test_it_refuses_two_flows_with_one_name_for_one_owner(demo: Demo, alice: Any) -> None:
    assert_refused(lambda: Flow.objects.create(owner=alice, name=demo.flow.name))
    assert Flow.objects.filter(name=demo.flow.name).count() == 1


def test_it_accepts_one_flow_name_for_two_owners(demo: Demo, bob: Any) -> None:
    assert_accepted(lambda: Flow.objects.create(owner=bob, name=demo.flow.name))
    assert set(Flow.objects.filter(name=demo.flow.name).values_list("owner__username", flat=True)) == {"alice", "bob"}


def test_the_orm_refuses_to_delete_a_queue_a_socket_uses(demo: Demo) -> None:
    with pytest.raises(ProtectedError), transaction.atomic():
        demo.s1.queue.delete()
    assert Queue.objects.filter(pk=demo.s1.queue_id).exists()


def test_the_database_refuses_to_delete_a_queue_a_socket_uses(demo: Demo) -> None:
    def delete_in_sql() -> None:
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM flows_queue WHERE id = %s", [demo.s1.queue_id])

    assert_refused(delete_in_sql)
    assert Queue.objects.filter(pk=demo.s1.queue_id).exists()


def test_a_queue_no_socket_uses_can_be_deleted(demo: Demo) -> None:
    queue = QueueFactory()
    assert_accepted(queue.delete)
    assert not Queue.objects.filter(name=queue.name).exists()
