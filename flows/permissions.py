"""Who may do what to a flow and the objects inside it.

A right on a flow covers everything in it; a right on a processor covers that processor and its sockets; a right
granted globally (a Django permission) covers every object. Sockets and plugs have no object permissions of
their own: they follow their processor and flow. `PROCESSOR_TO_FLOW` says which flow permission stands in for a
processor permission (removing a processor from a flow is changing the flow).
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from django.contrib.auth.models import Group, Permission
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Field, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.db.models.signals import post_migrate
from django.dispatch import receiver
from guardian.shortcuts import get_objects_for_user

from backend.errors import Forbidden
from flows.models import (
    Flow,
    FlowGroupObjectPermission,
    FlowUserObjectPermission,
    Processor,
    ProcessorGroupObjectPermission,
    ProcessorUserObjectPermission,
    Queue,
    Socket,
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


def processor_refusal(codename: str, processor: Processor) -> Forbidden:
    """The error that refuses `codename` on `processor`, saying what to ask for."""
    return Forbidden(
        f"You may not {ACTION_TEXT.get(codename, codename)} ({processor.name}): ask the flow's owner for the right.",
        {"permission": f"flows.{codename}"},
    )


def require_processor_perm(user: AnyUser, codename: str, processor: Processor) -> None:
    if not has_processor_perm(user, codename, processor):
        raise processor_refusal(codename, processor)


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


def _tables() -> tuple[str, str, str]:
    """The tables of Django's user-group, user-permission and group-permission relations."""
    return (
        Group.user_set.through._meta.db_table,  # type: ignore[attr-defined]
        Permission.user_set.through._meta.db_table,  # type: ignore[attr-defined]
        Permission.group_set.through._meta.db_table,  # type: ignore[attr-defined]
    )


@functools.cache
def _permission_ids(codenames: tuple[str, ...], model: str | None = None) -> list[int]:
    """The ids of this app's permissions named `codenames`, of `model` (as guardian matches an object's), or of any
    model (as ModelBackend matches a global one, by "flows.<codename>"). Permissions are rows that migrations make,
    not grants: kept for the life of the process, like Django's ContentType cache, and forgotten after a migrate
    or a flush (tests), which make them anew (`_forget_permission_ids`). Passing them as parameters keeps the rights
    queries below free of joins to the permission and content type tables, whose planning cost more than running
    the queries (about 0.5 ms each, issue 14)."""
    perms = Permission.objects.filter(content_type__app_label=Processor._meta.app_label, codename__in=codenames)
    if model is not None:
        perms = perms.filter(content_type__model=model)
    return sorted(perms.values_list("id", flat=True))


@receiver(post_migrate, dispatch_uid="flows.permissions.forget_permission_ids")
def _forget_permission_ids(**kwargs: Any) -> None:
    _permission_ids.cache_clear()


def _held_params(codenames: tuple[str, ...], processor_codename: str, flow_codename: str) -> dict[str, list[int]]:
    """The permission ids `_held_sql` compares with: `codenames` held globally, `processor_codename` on a processor,
    `flow_codename` on a flow."""
    return {
        "global": _permission_ids(tuple(dict.fromkeys(codenames))),
        "on_processor": _permission_ids((processor_codename,), Processor._meta.model_name),
        "on_flow": _permission_ids((flow_codename,), Flow._meta.model_name),
    }


def _right_params(codename: str) -> dict[str, list[int]]:
    """A processor right, as `has_processor_perm` reads it: the codename or its stand-in globally, the codename on
    the processor, the stand-in on its flow."""
    stand_in = PROCESSOR_TO_FLOW[codename]
    return _held_params((codename, stand_in), codename, stand_in)


def _sight_params() -> dict[str, list[int]]:
    """Seeing a socket, as the sockets endpoint did: view_socket (that endpoint's own rule), view_processor or
    view_flow globally, view_processor on its processor, view_flow on its flow (`processors_for`)."""
    return _held_params(("view_socket", "view_processor", "view_flow"), "view_processor", "view_flow")


def _held_sql(user: str, processor: str, flow: str, ids: dict[str, str]) -> str:
    """The user (an SQL expression) holds a right on the processor `processor` (an id expression) of the flow
    `flow`: one of the permissions `ids["global"]` globally (own or a group's Django permission, as ModelBackend
    reads it), `ids["on_processor"]` on the processor or `ids["on_flow"]` on the flow (own or a group's object
    permission, as guardian reads it). `ids` maps those names to SQL expressions of permission id arrays."""
    user_groups, user_perms, group_perms = _tables()

    def on_object(model: Any, target: str, perms: str) -> str:
        table = model._meta.db_table
        return (
            f"EXISTS (SELECT 1 FROM {table} o WHERE o.user_id = {user} AND o.content_object_id = {target} "
            f"AND o.permission_id = ANY({perms}))"
        )

    def on_object_by_group(model: Any, target: str, perms: str) -> str:
        table = model._meta.db_table
        return (
            f"EXISTS (SELECT 1 FROM {table} o JOIN {user_groups} ug ON ug.group_id = o.group_id "
            f"WHERE ug.user_id = {user} AND o.content_object_id = {target} AND o.permission_id = ANY({perms}))"
        )

    return f"""(
            EXISTS (SELECT 1 FROM {user_perms} up WHERE up.user_id = {user} AND up.permission_id = ANY({ids["global"]}))
            OR EXISTS (SELECT 1 FROM {user_groups} ug JOIN {group_perms} gp ON gp.group_id = ug.group_id
                       WHERE ug.user_id = {user} AND gp.permission_id = ANY({ids["global"]}))
            OR {on_object(ProcessorUserObjectPermission, processor, ids["on_processor"])}
            OR {on_object_by_group(ProcessorGroupObjectPermission, processor, ids["on_processor"])}
            OR {on_object(FlowUserObjectPermission, flow, ids["on_flow"])}
            OR {on_object_by_group(FlowGroupObjectPermission, flow, ids["on_flow"])}
        )"""


@functools.cache
def _rights_sql(count: int) -> str:
    """The query behind `processor_rights` for `count` codenames: for each processor asked about and each
    codename (parameter `codename<i>`), whether the user holds it by `_held_sql`'s rules."""
    return " UNION ALL ".join(
        f"""SELECT pr.id, %(codename{i})s::text FROM {Processor._meta.db_table} pr
        WHERE pr.id = ANY(%(processors)s::uuid[]) AND {
            _held_sql(
                "%(user)s",
                "pr.id",
                "pr.flow_id",
                {name: f"%({name}{i})s::integer[]" for name in ("global", "on_processor", "on_flow")},
            )
        }"""
        for i in range(count)
    )


@functools.cache
def _seen_processors_sql() -> str:
    """The ids of the processors the user may see; parameters, in order: the user's id and the `_held_params`
    arrays global, on_processor, on_flow."""
    names = ("global", "on_processor", "on_flow")
    return f"""SELECT pr.id FROM {Processor._meta.db_table} pr,
        (SELECT %s::integer AS user_id, {", ".join(f"%s::integer[] AS {name}" for name in names)}) asked
        WHERE {_held_sql("asked.user_id", "pr.id", "pr.flow_id", {name: f"asked.{name}" for name in names})}"""


def sockets_for(user: AnyUser) -> QuerySet[Socket]:
    """The sockets `user` may see: every one for a superuser or a holder of view_socket, view_processor or view_flow
    granted globally, otherwise those of the processors `processors_for(user)` gives, in one SQL query whatever the
    user holds. It is on the path of every message sent through the API, where loading the user's permissions and
    building guardian's querysets cost more than the rest of the request (docs/benchmarks.md, issue 14)."""
    if not user.is_authenticated:
        return Socket.objects.none()
    if user.is_superuser:
        return Socket.objects.all()
    if not user.is_active:
        return Socket.objects.none()
    ids = _sight_params()
    params = [user.pk, ids["global"], ids["on_processor"], ids["on_flow"]]
    return Socket.objects.filter(processor_id__in=RawSQL(_seen_processors_sql(), params))


@functools.cache
def _socket_sql() -> str:
    """The query behind `socket_with_rights`: the socket's and its queue's columns, then the ids of the permissions
    the user holds globally, on the socket's processor and on its flow (own or a group's), as three arrays. One
    statement with six small subqueries plans in about half the time of one with `_held_sql`'s conditions (0.25
    against 0.45 ms), and answers every right at once; the rule is applied to the arrays by `_holds`."""
    user_groups, user_perms, group_perms = _tables()

    def on_object(by_user: Any, by_group: Any, target: str) -> str:
        return (
            f"ARRAY(SELECT o.permission_id FROM {by_user._meta.db_table} o "
            f"WHERE o.user_id = %(user)s AND o.content_object_id = {target} "
            f"UNION ALL SELECT o.permission_id FROM {by_group._meta.db_table} o "
            f"JOIN {user_groups} ug ON ug.group_id = o.group_id "
            f"WHERE ug.user_id = %(user)s AND o.content_object_id = {target})"
        )

    def column(name: str) -> str:
        field = Socket._meta.get_field(name)
        assert isinstance(field, Field)
        return f's."{field.column}"'

    columns = [f's."{f.column}"' for f in Socket._meta.concrete_fields]
    columns += [f'q."{f.column}"' for f in Queue._meta.concrete_fields]
    on_global = (
        f"ARRAY(SELECT up.permission_id FROM {user_perms} up WHERE up.user_id = %(user)s "
        f"UNION ALL SELECT gp.permission_id FROM {user_groups} ug JOIN {group_perms} gp ON gp.group_id = ug.group_id "
        f"WHERE ug.user_id = %(user)s)"
    )
    on_processor = on_object(ProcessorUserObjectPermission, ProcessorGroupObjectPermission, column("processor"))
    on_flow = on_object(FlowUserObjectPermission, FlowGroupObjectPermission, column("flow"))
    return (
        f"SELECT {', '.join(columns)}, {on_global}, {on_processor}, {on_flow} "
        f"FROM {Socket._meta.db_table} s JOIN {Queue._meta.db_table} q "
        f'ON q."{Queue._meta.pk.column}" = {column("queue")} WHERE {column("id")} = %(socket)s'
    )


def _from_row(model: Any, values: Sequence[Any]) -> Any:
    """A model instance from its concrete fields' column values, converted as the ORM converts them."""
    fields = model._meta.concrete_fields
    converted = []
    for field, value in zip(fields, values, strict=True):
        column = field.get_col(model._meta.db_table)
        for converter in connection.ops.get_db_converters(column) + column.get_db_converters(connection):
            value = converter(value, column, connection)
        converted.append(value)
    return model.from_db(connection.alias, [field.attname for field in fields], converted)


def _holds(held: tuple[set[int], set[int], set[int]], ids: dict[str, list[int]]) -> bool:
    """`_held_sql`'s rule on the permission ids held globally, on the processor and on its flow."""
    on_global, on_processor, on_flow = held
    return bool(
        on_global.intersection(ids["global"])
        or on_processor.intersection(ids["on_processor"])
        or on_flow.intersection(ids["on_flow"])
    )


def socket_with_rights(user: AnyUser, socket_id: Any, rights: Collection[str]) -> Socket | None:
    """The socket `socket_id` (with its queue) if `user` may see it, by `sockets_for`'s rules, else None; which of
    the processor `rights` the user holds on it, by `processor_rights`' rules, is kept with it for
    `rights_read(socket, user)`. One SQL query for all of it: on the path of every message sent through the API,
    where the socket's queryset and a rights query cost more than the rest of the request (issue 14)."""
    if not user.is_authenticated or not (user.is_active or user.is_superuser):
        return None
    try:
        pk = Socket._meta.pk.to_python(socket_id)  # type: ignore[union-attr]
    except ValidationError:
        return None
    with connection.cursor() as cursor:
        cursor.execute(_socket_sql(), {"user": user.pk, "socket": pk})
        row = cursor.fetchone()
    if row is None:
        return None
    width = len(Socket._meta.concrete_fields)
    socket = _from_row(Socket, row[:width])
    queue = _from_row(Queue, row[width:-3])
    Socket._meta.get_field("queue").set_cached_value(socket, queue)  # as select_related("queue") leaves it
    held = (set(row[-3]), set(row[-2]), set(row[-1]))
    if not user.is_superuser and not _holds(held, _sight_params()):
        return None
    if not user.is_active:
        granted: frozenset[str] = frozenset()
    elif user.is_superuser:
        granted = frozenset(rights)
    else:
        granted = frozenset(codename for codename in rights if _holds(held, _right_params(codename)))
    socket._rights_read = (user.pk, granted)  # type: ignore[attr-defined]
    return socket


def rights_read(socket: Socket, user: AnyUser) -> frozenset[str] | None:
    """The processor rights `socket_with_rights` read with `socket` for `user`; None when they were not read for
    this user (then ask `processor_rights`)."""
    read = getattr(socket, "_rights_read", None)
    if read is None or read[0] != user.pk:
        return None
    return frozenset(read[1])


def processor_rights(user: AnyUser, processors: Iterable[Any], codenames: Collection[str]) -> dict[Any, set[str]]:
    """Which of `codenames` (processor codenames) `user` holds on each of `processors` (ids), by the same rules as
    `has_processor_perm`, in one query whatever the number of processors. It is on every SDK call's path, where
    building guardian's querysets cost more than running them (about 9 ms each on the 2-core CI machine)."""
    wanted = {str(pk): pk for pk in processors}  # answered by the caller's own ids (UUID or str)
    if not wanted or not user.is_authenticated or not user.is_active:
        return {}
    if user.is_superuser:
        return {pk: set(codenames) for pk in wanted.values()}
    codenames = tuple(codenames)
    params: dict[str, Any] = {"user": user.pk, "processors": list(wanted)}
    for i, codename in enumerate(codenames):
        params[f"codename{i}"] = codename
        params.update({f"{name}{i}": ids for name, ids in _right_params(codename).items()})
    rights: dict[Any, set[str]] = {}
    with connection.cursor() as cursor:
        cursor.execute(_rights_sql(len(codenames)), params)
        for pk, codename in cursor.fetchall():
            rights.setdefault(wanted[str(pk)], set()).add(codename)
    return rights
