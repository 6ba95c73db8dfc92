"""Who may do what to a flow and the objects inside it.

A right on a flow covers everything in it; a right on a processor covers that processor and its sockets; a right
granted globally (a Django permission) covers every object. Sockets and plugs have no object permissions of
their own: they follow their processor and flow. `PROCESSOR_TO_FLOW` says which flow permission stands in for a
processor permission (removing a processor from a flow is changing the flow).
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Iterable
from typing import TYPE_CHECKING, Any

from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.models import Q, QuerySet
from guardian.shortcuts import get_objects_for_user

from backend.errors import Forbidden
from flows.models import (
    Flow,
    FlowGroupObjectPermission,
    FlowUserObjectPermission,
    Processor,
    ProcessorGroupObjectPermission,
    ProcessorUserObjectPermission,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

    AnyUser = User | AnonymousUser

PROCESSOR_TO_FLOW = {
    "view_processor": "view_flow",
    "change_processor": "change_flow",
    "delete_processor": "change_flow",
    "add_processor": "change_flow",
    "run_task": "run_task",
    "start_processor": "start_processor",
    "stop_processor": "stop_processor",
    "pause_processor": "pause_processor",
    "resume_processor": "resume_processor",
    "view_code": "view_code",
}

ACTION_TEXT = {
    "view_flow": "see this flow",
    "change_flow": "change this flow",
    "delete_flow": "delete this flow",
    "view_processor": "see this processor",
    "change_processor": "change this processor",
    "delete_processor": "delete this processor",
    "run_task": "send messages to this socket",
    "start_processor": "start this processor",
    "stop_processor": "stop this processor",
    "pause_processor": "pause this processor",
    "resume_processor": "resume this processor",
    "view_code": "read this processor's code",
}


def _global(user: AnyUser, codename: str) -> bool:
    return bool(user.is_active and user.has_perm(f"flows.{codename}"))


def has_flow_perm(user: AnyUser, codename: str, flow: Flow) -> bool:
    if not user.is_authenticated or not user.is_active:
        return False
    return _global(user, codename) or user.has_perm(f"flows.{codename}", flow)


def has_processor_perm(user: AnyUser, codename: str, processor: Processor) -> bool:
    if not user.is_authenticated or not user.is_active:
        return False
    if _global(user, codename) or user.has_perm(f"flows.{codename}", processor):
        return True
    return has_flow_perm(user, PROCESSOR_TO_FLOW[codename], processor.flow)


def require_flow_perm(user: AnyUser, codename: str, flow: Flow) -> None:
    if not has_flow_perm(user, codename, flow):
        raise Forbidden(
            f"You may not {ACTION_TEXT.get(codename, codename)} ({flow.name}): ask its owner for the right.",
            {"permission": f"flows.{codename}"},
        )


def require_processor_perm(user: AnyUser, codename: str, processor: Processor) -> None:
    if not has_processor_perm(user, codename, processor):
        raise Forbidden(
            f"You may not {ACTION_TEXT.get(codename, codename)} ({processor.name}): ask the flow's owner for the right.",
            {"permission": f"flows.{codename}"},
        )


def flows_for(user: AnyUser, codename: str = "view_flow") -> QuerySet[Flow]:
    if not user.is_authenticated or not user.is_active:
        return Flow.objects.none()
    # The bare codename: the model gives the content type (run_task, start_processor… exist on Flow and Processor).
    return get_objects_for_user(user, codename, Flow, accept_global_perms=True, with_superuser=True)


def processors_for(user: AnyUser, codename: str = "view_processor") -> QuerySet[Processor]:
    if not user.is_authenticated or not user.is_active:
        return Processor.objects.none()
    if user.is_superuser or _global(user, codename):
        return Processor.objects.all()
    direct = get_objects_for_user(user, codename, Processor, accept_global_perms=False, with_superuser=False)
    via_flow = flows_for(user, PROCESSOR_TO_FLOW[codename])
    return Processor.objects.filter(Q(flow__in=via_flow.values("pk")) | Q(pk__in=direct.values("pk")))


@functools.cache
def _rights_sql() -> str:
    """The query behind `processor_rights`, table names from the models: for each (processor, codename) asked
    about, whether the user holds the codename globally (own or a group's Django permission in this app, as
    ModelBackend reads it), on the processor, or its stand-in (PROCESSOR_TO_FLOW) on the processor's flow (own or a
    group's object permission, as guardian reads it)."""
    user_groups = Group.user_set.through._meta.db_table  # type: ignore[attr-defined]
    user_perms = Permission.user_set.through._meta.db_table  # type: ignore[attr-defined]
    group_perms = Permission.group_set.through._meta.db_table  # type: ignore[attr-defined]

    def on_object(model: Any, owner: str, target: str, codename: str, kind: Any) -> str:
        if owner == "user":
            who = "o.user_id = %(user)s"
        else:
            who = f"o.group_id IN (SELECT group_id FROM {user_groups} WHERE user_id = %(user)s)"
        return (
            f"EXISTS (SELECT 1 FROM {model._meta.db_table} o JOIN perm ON perm.id = o.permission_id "
            f"WHERE {who} AND o.content_object_id = {target} AND perm.codename = {codename} "
            f"AND perm.model = '{kind._meta.model_name}')"
        )

    return f"""
        WITH perm AS (
            SELECT p.id, p.codename, ct.model FROM {Permission._meta.db_table} p
            JOIN {ContentType._meta.db_table} ct ON ct.id = p.content_type_id
            WHERE ct.app_label = '{Processor._meta.app_label}'
        ),
        asked(codename, flow_codename) AS (SELECT * FROM unnest(%(codenames)s::text[], %(flow_codenames)s::text[]))
        SELECT pr.id, asked.codename FROM {Processor._meta.db_table} pr CROSS JOIN asked
        WHERE pr.id = ANY(%(processors)s::uuid[]) AND (
            EXISTS (SELECT 1 FROM {user_perms} up JOIN perm ON perm.id = up.permission_id
                    WHERE up.user_id = %(user)s AND perm.codename = asked.codename)
            OR EXISTS (SELECT 1 FROM {user_groups} ug JOIN {group_perms} gp ON gp.group_id = ug.group_id
                       JOIN perm ON perm.id = gp.permission_id
                       WHERE ug.user_id = %(user)s AND perm.codename = asked.codename)
            OR {on_object(ProcessorUserObjectPermission, "user", "pr.id", "asked.codename", Processor)}
            OR {on_object(ProcessorGroupObjectPermission, "group", "pr.id", "asked.codename", Processor)}
            OR {on_object(FlowUserObjectPermission, "user", "pr.flow_id", "asked.flow_codename", Flow)}
            OR {on_object(FlowGroupObjectPermission, "group", "pr.flow_id", "asked.flow_codename", Flow)}
        )
    """


def processor_rights(user: AnyUser, processors: Iterable[Any], codenames: Collection[str]) -> dict[Any, set[str]]:
    """Which of `codenames` (processor codenames) `user` holds on each of `processors` (ids), by the same rules as
    `has_processor_perm`, in one query whatever the number of processors. It is on every SDK call's path, where
    building guardian's querysets cost more than running them (about 9 ms each on the 2-core CI machine)."""
    wanted = {str(pk): pk for pk in processors}  # answered by the caller's own ids (UUID or str)
    if not wanted or not user.is_authenticated or not user.is_active:
        return {}
    if user.is_superuser:
        return {pk: set(codenames) for pk in wanted.values()}
    rights: dict[Any, set[str]] = {}
    with connection.cursor() as cursor:
        cursor.execute(
            _rights_sql(),
            {
                "user": user.pk,
                "processors": list(wanted),
                "codenames": list(codenames),
                "flow_codenames": [PROCESSOR_TO_FLOW[codename] for codename in codenames],
            },
        )
        for pk, codename in cursor.fetchall():
            rights.setdefault(wanted[str(pk)], set()).add(codename)
    return rights
