"""Who may do what to a flow and the objects inside it.

A right on a flow covers everything in it; a right on a processor covers that processor and its sockets; a right
granted globally (a Django permission) covers every object. Sockets and plugs have no object permissions of
their own: they follow their processor and flow. `PROCESSOR_TO_FLOW` says which flow permission stands in for a
processor permission (removing a processor from a flow is changing the flow).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import Q, QuerySet
from guardian.shortcuts import get_objects_for_user

from backend.errors import Forbidden
from flows.models import Flow, Processor

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
