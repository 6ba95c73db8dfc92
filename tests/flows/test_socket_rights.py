"""`sockets_for` and `socket_with_rights` (one SQL query each) must answer exactly as the sockets endpoint and the
message ingest did before them (Django's has_perm, guardian's querysets and `has_processor_perm`), for every way a
right can be held: globally by the user or a group, on the processor or on its flow by the user or a group, and for
users who hold nothing, only other rights, are inactive or are superusers."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from guardian.shortcuts import assign_perm

from flows.models import Socket
from flows.permissions import (
    PROCESSOR_TO_FLOW,
    has_processor_perm,
    processor_rights,
    processors_for,
    rights_read,
    socket_with_rights,
    sockets_for,
)
from tests.factories import ProcessorFactory, SocketFactory, UserFactory, make_user
from tests.flows.test_processor_rights import grant_everywhere

pytestmark = pytest.mark.django_db
CODENAMES = tuple(PROCESSOR_TO_FLOW)


def fresh(user: Any) -> Any:
    return get_user_model().objects.get(pk=user.pk)  # Django caches permissions per instance


def seen_before(user: Any) -> set[Any]:
    """The sockets endpoint's queryset as it was: Django's has_perm, then guardian's querysets."""
    if user.is_superuser or user.has_perm("flows.view_socket"):
        return set(Socket.objects.values_list("pk", flat=True))
    return set(Socket.objects.filter(processor__in=processors_for(user).values("pk")).values_list("pk", flat=True))


def everyone(alice: Any) -> tuple[dict[str, Any], list[Socket]]:
    """grant_everywhere's users, and one more per way of seeing a socket."""
    users, processors = grant_everywhere(alice)

    def user(name: str, *codenames: str, **fields: Any) -> Any:
        users[name] = UserFactory(username=name, **fields)
        users[name].user_permissions.add(*(Permission.objects.get(codename=c) for c in codenames))
        return users[name]

    user("global_socket", "view_socket")
    user("global_flow", "view_flow", "change_flow")  # stand-ins held globally
    group_global = Group.objects.create(name="socket readers")
    group_global.permissions.add(Permission.objects.get(codename="view_socket"))
    user("group_global_socket").groups.add(group_global)
    viewers = Group.objects.create(name="viewers")
    assign_perm("flows.view_flow", viewers, processors[0].flow)
    user("group_on_flow_viewer").groups.add(viewers)
    processor_viewers = Group.objects.create(name="processor viewers")
    assign_perm("flows.view_processor", processor_viewers, processors[1])
    user("group_on_processor_viewer").groups.add(processor_viewers)
    assign_perm("flows.run_task", users["group_on_processor_viewer"], processors[1])
    assign_perm("flows.view_processor", user("on_processor_viewer"), processors[0])
    users["inactive_superuser"] = UserFactory(username="iroot", is_superuser=True, is_active=False)
    sockets = [SocketFactory(processor=p, name=f"{p.name}.s", function="f") for p in processors]
    sockets[0].schedule = {"interval": 5}
    sockets[0].save()
    return users, sockets


def test_sockets_for_sees_what_the_sockets_endpoint_saw() -> None:
    users, _ = everyone(make_user("alice", "CREATE"))
    seeing = set()
    for name, user in users.items():
        got = set(sockets_for(fresh(user)).values_list("pk", flat=True))
        assert got == seen_before(fresh(user)), name
        if got:
            seeing.add(name)
    assert {"nobody", "inactive"}.isdisjoint(seeing) and len(seeing) > 10


def test_socket_with_rights_sees_and_grants_as_before() -> None:
    users, sockets = everyone(make_user("alice", "CREATE"))
    granted = 0
    for name, user in users.items():
        for socket in sockets:
            got = socket_with_rights(fresh(user), str(socket.pk), CODENAMES)
            assert (got is not None) == (socket.pk in seen_before(fresh(user))), (name, socket.name)
            if got is None:
                continue
            expected = {c for c in CODENAMES if has_processor_perm(fresh(user), c, socket.processor)}
            assert rights_read(got, fresh(user)) == expected, (name, socket.name)
            assert processor_rights(fresh(user), [socket.processor_id], CODENAMES).get(socket.processor_id, set()) == (
                expected
            )
            granted += bool(expected)
            # Read as the ORM reads it: the queue comes with it, JSON and dates converted.
            row = Socket.objects.select_related("queue").get(pk=socket.pk)
            assert [getattr(got, f.attname) for f in Socket._meta.concrete_fields] == [
                getattr(row, f.attname) for f in Socket._meta.concrete_fields
            ]
            assert got.queue.pk == row.queue.pk and got.queue.name == row.queue.name
    assert granted > 10


def test_rights_read_for_someone_else_are_not_kept() -> None:
    users, sockets = everyone(make_user("alice", "CREATE"))
    got = socket_with_rights(fresh(users["owner"]), sockets[0].pk, CODENAMES)
    assert got is not None and rights_read(got, fresh(users["owner"])) == set(CODENAMES)
    assert rights_read(got, fresh(users["nobody"])) is None  # asked again, never borrowed
    assert rights_read(sockets[0], fresh(users["owner"])) is None  # not read by socket_with_rights


def test_no_socket_for_an_unknown_or_malformed_id() -> None:
    alice = make_user("alice", "CREATE")
    assert socket_with_rights(alice, "5b0c5f33-4b0c-4c55-9d8e-0e6f7ad6d2a1", CODENAMES) is None
    assert socket_with_rights(alice, "not-a-uuid", CODENAMES) is None
    assert socket_with_rights(alice, ProcessorFactory.build().pk, CODENAMES) is None
