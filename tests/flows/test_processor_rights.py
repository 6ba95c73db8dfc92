"""`processor_rights` (one SQL query) must answer exactly as `has_processor_perm` (Django + guardian) does, for every
way a right can be held: globally by the user or a group, on the processor by the user or a group, or on its flow
by the user or a group, and for the users who hold nothing, are inactive or are superusers."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from guardian.shortcuts import assign_perm

from flows.models import Processor
from flows.permissions import PROCESSOR_TO_FLOW, has_processor_perm, processor_rights
from tests.factories import ProcessorFactory, UserFactory, make_flow, make_user

pytestmark = pytest.mark.django_db
CODENAMES = tuple(PROCESSOR_TO_FLOW)


def fresh(user: Any) -> Any:
    return get_user_model().objects.get(pk=user.pk)  # Django caches permissions per instance


def grant_everywhere(alice: Any) -> tuple[dict[str, Any], list[Processor]]:
    """One user per way of holding a right, each holding one codename on one of two processors in two flows."""
    flows = [make_flow(alice, "one"), make_flow(alice, "two")]
    processors = [ProcessorFactory(flow=flows[0], name="p1"), ProcessorFactory(flow=flows[1], name="p2")]
    group = Group.objects.create(name="team")
    users: dict[str, Any] = {}

    def user(name: str, **fields: Any) -> Any:
        users[name] = UserFactory(username=name, **fields)
        return users[name]

    user("global").user_permissions.add(Permission.objects.get(codename="run_task", content_type__model="processor"))
    group_global = Group.objects.create(name="global runners")
    group_global.permissions.add(Permission.objects.get(codename="view_processor"))
    user("group_global").groups.add(group_global)
    assign_perm("flows.start_processor", user("on_processor"), processors[0])
    assign_perm("flows.view_code", group, processors[1])
    user("group_on_processor").groups.add(group)
    assign_perm("flows.view_flow", user("on_flow"), flows[1])  # stands in for view_processor
    assign_perm("flows.change_flow", user("group_on_flow"), flows[0])  # for change/delete/add_processor
    other = Group.objects.create(name="flow editors")
    assign_perm("flows.run_task", other, flows[0])
    users["group_on_flow"].groups.add(other)
    assign_perm("flows.run_task", user("inactive", is_active=False), processors[0])
    user("nobody")
    users["superuser"] = UserFactory(username="root", is_superuser=True)
    users["owner"] = alice
    return users, processors


def test_it_answers_as_guardian_for_every_way_of_holding_a_right() -> None:
    alice = make_user("alice", "CREATE")
    users, processors = grant_everywhere(alice)
    holding = set()
    for name, user in users.items():
        user = fresh(user)
        got = processor_rights(user, [p.pk for p in processors], CODENAMES)
        for processor in processors:
            expected = {codename for codename in CODENAMES if has_processor_perm(fresh(user), codename, processor)}
            assert got.get(processor.pk, set()) == expected, (name, processor.name)
            if expected:
                holding.add(name)
    assert holding == set(users) - {"nobody", "inactive"}  # every grant above is one guardian honours


def test_it_holds_nothing_for_no_processors_or_unknown_ones() -> None:
    alice = make_user("alice", "CREATE")
    assert processor_rights(alice, [], CODENAMES) == {}
    assert processor_rights(alice, ["5b0c5f33-4b0c-4c55-9d8e-0e6f7ad6d2a1"], CODENAMES) == {}
